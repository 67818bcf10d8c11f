# The Discord bot, slim and non-root. Build: docker compose build; run: docker compose up -d
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY config ./config
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 SD35L_DATABASE=/app/data/sd35l.db
RUN useradd --create-home --uid 10001 sd35l && mkdir -p /app/data && chown sd35l /app/data
COPY --from=build /install /usr/local
WORKDIR /app
USER sd35l
VOLUME ["/app/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-m", "bot.health"]
CMD ["sd35l-trainer", "bot"]
