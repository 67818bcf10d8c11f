"""HTTP shared by every client here: the guarded fetch of user-given URLs (`fetcher`) over its
pinned transport (`pinned`), and `Retry-After` (`retry`)."""
