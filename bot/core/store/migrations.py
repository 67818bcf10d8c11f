"""The database schema as an ordered list of migrations.

Each entry upgrades the schema by one version and is applied inside one transaction together with
the new version number, so a crash halfway never leaves a half-migrated file. Never edit a
released entry: append a new one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # v1: trainings, the notification outbox, submissions whose outcome is not known yet.
    """
    CREATE TABLE trainings (
        id TEXT PRIMARY KEY,
        owner_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        card_message_id INTEGER,
        destination TEXT NOT NULL,
        trigger_word TEXT,
        config_json TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        step INTEGER,
        total INTEGER,
        eta_at TEXT,
        loss REAL,
        predict_time REAL,
        cost REAL,
        weights_url TEXT,
        new_version TEXT,
        error TEXT,
        log_tail TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        completed_at TEXT,
        card_edited_at TEXT,
        card_status TEXT,
        card_gone INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX trainings_status ON trainings(status);
    CREATE INDEX trainings_owner ON trainings(owner_id, status);
    CREATE INDEX trainings_guild ON trainings(guild_id, created_at);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        training_id TEXT NOT NULL REFERENCES trainings(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        UNIQUE (training_id, kind)
    );
    CREATE INDEX outbox_pending ON outbox(delivered_at);
    CREATE TABLE pending_submissions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        destination TEXT NOT NULL,
        trigger_word TEXT,
        config_json TEXT NOT NULL DEFAULT '{}',
        inputs_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    """,
    # v2: Discord /train previews, so a Start button still works after a restart (no secrets).
    """
    CREATE TABLE previews (
        key TEXT PRIMARY KEY,
        owner_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        config_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX previews_expiry ON previews(expires_at);
    """,
    # v3: exactly once across crashes.
    # - pending_submissions.marker: a random per-Start token sent as the trainer's `wandb_run`
    #   input (a W&B run name, used only with a W&B key) that Replicate echoes back in the
    #   training's `input`. A training is adopted after a lost create only when it carries the
    #   marker of that pending Start: identity is proved, never guessed from the dataset URL and
    #   trigger word, which two people (or one person twice) may share.
    # - preview_key: the preview this Start claimed, in the same transaction as the claim, so a
    #   used-up preview always has a record that is resolved (adopted, or the owner is told).
    # - sent_at: when the create left; NULL means it never did, so nothing can exist.
    # - outcome/told_at: how an open submission ended without a training ('not_submitted',
    #   'unknown', 'ambiguous') and when its owner was told; rows stay as the record of it.
    # - outbox.attempted_at, trainings.card_attempted_at, pending_submissions.tell_attempted_at: a
    #   send that may have reached Discord
    #   although the process died before it was marked, so a restart checks before sending.
    """
    ALTER TABLE pending_submissions ADD COLUMN preview_key TEXT;
    ALTER TABLE pending_submissions ADD COLUMN marker TEXT;
    ALTER TABLE pending_submissions ADD COLUMN sent_at TEXT;
    ALTER TABLE pending_submissions ADD COLUMN outcome TEXT;
    ALTER TABLE pending_submissions ADD COLUMN outcome_json TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE pending_submissions ADD COLUMN told_at TEXT;
    ALTER TABLE pending_submissions ADD COLUMN tell_attempted_at TEXT;
    CREATE UNIQUE INDEX pending_marker ON pending_submissions(marker) WHERE marker IS NOT NULL;
    CREATE INDEX pending_open ON pending_submissions(outcome, told_at);
    ALTER TABLE outbox ADD COLUMN attempted_at TEXT;
    ALTER TABLE trainings ADD COLUMN card_attempted_at TEXT;
    """,
    # v4: the money ledger (one row per training the bot started, in integer cents, by the UTC
    # month of its Start) and approval requests. Trainings from before v4 enter the ledger at
    # their known cost (none while running: their estimate was never stored).
    """
    CREATE TABLE ledger (
        training_id TEXT PRIMARY KEY,
        owner_id INTEGER NOT NULL,
        guild_id INTEGER,
        month TEXT NOT NULL,
        estimate_low_cents INTEGER NOT NULL,
        estimate_high_cents INTEGER NOT NULL,
        estimate_basis TEXT NOT NULL DEFAULT '',
        steps INTEGER,
        batch_size INTEGER,
        resolution TEXT,
        images INTEGER,
        status TEXT NOT NULL DEFAULT 'running',
        predict_time REAL,
        actual_cents INTEGER,
        loss_json TEXT,
        created_at TEXT NOT NULL,
        settled_at TEXT
    );
    CREATE INDEX ledger_month ON ledger(month, owner_id);
    INSERT INTO ledger (training_id, owner_id, guild_id, month, estimate_low_cents,
                        estimate_high_cents, status, predict_time, actual_cents, created_at,
                        settled_at)
    SELECT id, owner_id, guild_id, substr(created_at, 1, 7),
           CAST(ROUND(COALESCE(cost, 0) * 100) AS INTEGER),
           CAST(ROUND(COALESCE(cost, 0) * 100) AS INTEGER),
           CASE WHEN completed_at IS NULL THEN 'running' ELSE status END,
           predict_time,
           CASE WHEN completed_at IS NULL THEN NULL
                ELSE CAST(ROUND(COALESCE(cost, 0) * 100) AS INTEGER) END,
           created_at, completed_at
    FROM trainings;
    CREATE TABLE approvals (
        key TEXT PRIMARY KEY,
        owner_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        message_id INTEGER,
        config_json TEXT NOT NULL DEFAULT '{}',
        estimate_high_cents INTEGER NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'pending',
        decided_by INTEGER,
        training_id TEXT,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        decided_at TEXT
    );
    CREATE INDEX approvals_pending ON approvals(status, expires_at);
    ALTER TABLE previews ADD COLUMN dataset_summary TEXT NOT NULL DEFAULT '';
    """,
    # v5: the usable image count of a Start's dataset travels from the preview (and from an
    # approval request) into the ledger, where the estimate learns the per-image overhead from
    # it (ledger.images existed since v4, unused; older rows keep NULL and still count). A
    # rejected request keeps the manager's reason.
    """
    ALTER TABLE previews ADD COLUMN images INTEGER;
    ALTER TABLE approvals ADD COLUMN images INTEGER;
    ALTER TABLE approvals ADD COLUMN reason TEXT;
    """,
    # v6: money in one unit. A training's bill was kept twice, as float dollars in
    # trainings.cost beside the ledger's whole cents; it becomes trainings.cost_cents. A bill the
    # ledger settled is taken from there (the same figure, rounded once in decimal); any other
    # is rounded from the dollars (the tiny nudge keeps 1.525 from becoming 152.4999... cents).
    # Undelivered 'ended' notices carry cost_cents instead of cost.
    """
    ALTER TABLE trainings ADD COLUMN cost_cents INTEGER;
    UPDATE trainings SET cost_cents = COALESCE(
        (SELECT actual_cents FROM ledger
         WHERE ledger.training_id = trainings.id AND ledger.settled_at IS NOT NULL
               AND ledger.predict_time IS NOT NULL),
        CAST(ROUND(cost * 100 + 0.000001) AS INTEGER))
    WHERE cost IS NOT NULL;
    ALTER TABLE trainings DROP COLUMN cost;
    UPDATE outbox SET payload_json = json_set(json_remove(payload_json, '$.cost'),
        '$.cost_cents', CASE WHEN json_type(payload_json, '$.cost') IN ('integer', 'real')
                        THEN CAST(ROUND(json_extract(payload_json, '$.cost') * 100 + 0.000001)
                                  AS INTEGER) END)
    WHERE json_valid(payload_json) AND json_type(payload_json, '$.cost') IS NOT NULL;
    """,
    # v7: an ending without Replicate's billed time was filed as $0; it is unknown (NULL), and
    # counts at its high estimate until a later read fills it in. A training that never started
    # ran no GPU second, so its $0 stays.
    """
    UPDATE ledger SET actual_cents = NULL
    WHERE settled_at IS NOT NULL AND predict_time IS NULL AND actual_cents = 0
      AND EXISTS (SELECT 1 FROM trainings
                  WHERE trainings.id = ledger.training_id AND trainings.started_at IS NOT NULL);
    """,
)

LATEST_VERSION = len(MIGRATIONS)
