"""The registry's first seven migrations (the first release's tables and views): models
and their lifecycle, metadata, gate results, packages and requests, evaluations, users and
tokens. `registry/schema.py` continues the list; never edit a migration that has shipped."""

from __future__ import annotations

FIRST_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "models, lifecycle events, metric values",
        """
        CREATE TABLE models (
            model_id        VARCHAR PRIMARY KEY,
            author          VARCHAR,
            pipeline_tag    VARCHAR,
            library_name    VARCHAR,
            license         VARCHAR,
            downloads       BIGINT,
            likes           BIGINT,
            last_modified   TIMESTAMPTZ,
            created_at      TIMESTAMPTZ,
            sha             VARCHAR,
            tags            VARCHAR[],
            gated           VARCHAR,
            has_safetensors BOOLEAN,
            first_seen      TIMESTAMPTZ NOT NULL,
            last_seen       TIMESTAMPTZ NOT NULL,
            run_id          VARCHAR
        );
        CREATE SEQUENCE model_status_event_ids;
        CREATE TABLE model_status_events (
            event_id     BIGINT PRIMARY KEY DEFAULT nextval('model_status_event_ids'),
            model_id     VARCHAR NOT NULL,
            status       VARCHAR NOT NULL,
            reason       VARCHAR,
            revision_sha VARCHAR,
            run_id       VARCHAR,
            created_at   TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE metric_values (
            model_id           VARCHAR NOT NULL,
            revision_sha       VARCHAR NOT NULL,
            metric             VARCHAR NOT NULL,
            value              DOUBLE,
            latency_ms         DOUBLE,
            inputs_fingerprint VARCHAR,
            code_version       VARCHAR,
            run_id             VARCHAR NOT NULL,
            created_at         TIMESTAMPTZ NOT NULL,
            details            JSON,
            PRIMARY KEY (model_id, revision_sha, metric, run_id)
        );
        CREATE VIEW v_model_status AS
            SELECT model_id,
                   arg_max(status, event_id)       AS status,
                   arg_max(reason, event_id)       AS reason,
                   arg_max(revision_sha, event_id) AS revision_sha,
                   arg_max(run_id, event_id)       AS run_id,
                   max(created_at)                 AS since
            FROM model_status_events GROUP BY model_id;
        CREATE VIEW v_candidates AS
            SELECT m.*, s.since AS candidate_since
            FROM models m JOIN v_model_status s USING (model_id)
            WHERE s.status = 'candidate';
        """,
    ),
    (
        2,
        "model metadata per revision, discovery scans",
        """
        CREATE TABLE model_revisions (
            model_id     VARCHAR NOT NULL,
            revision_sha VARCHAR NOT NULL,
            info         JSON NOT NULL,
            card_data    JSON,
            card_text    VARCHAR,
            commits      JSON,
            config       JSON,
            from_cache   BOOLEAN NOT NULL DEFAULT FALSE,
            fetched_at   TIMESTAMPTZ NOT NULL,
            run_id       VARCHAR,
            PRIMARY KEY (model_id, revision_sha)
        );
        CREATE SEQUENCE discovery_scan_ids;
        CREATE TABLE discovery_scans (
            scan_id      BIGINT PRIMARY KEY DEFAULT nextval('discovery_scan_ids'),
            pipeline_tag VARCHAR NOT NULL,
            pages        INTEGER NOT NULL,
            models_seen  INTEGER NOT NULL,
            new_models   INTEGER NOT NULL,
            changed      INTEGER NOT NULL,
            offline      BOOLEAN NOT NULL,
            run_id       VARCHAR,
            scanned_at   TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        3,
        "quality gate results",
        """
        CREATE TABLE gate_results (
            model_id        VARCHAR NOT NULL,
            revision_sha    VARCHAR NOT NULL,
            passed          BOOLEAN NOT NULL,
            failed_metrics  JSON NOT NULL,
            message         VARCHAR NOT NULL,
            thresholds      JSON NOT NULL,
            config_version  VARCHAR NOT NULL,
            target_device   VARCHAR NOT NULL,
            run_id          VARCHAR NOT NULL,
            created_at      TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (model_id, revision_sha, run_id)
        );
        CREATE VIEW v_latest_metrics AS
            SELECT m.model_id, m.sha AS revision_sha, v.metric,
                   arg_max(v.value, v.created_at) AS value,
                   arg_max(v.latency_ms, v.created_at) AS latency_ms,
                   arg_max(v.run_id, v.created_at) AS run_id,
                   max(v.created_at) AS created_at
            FROM models m JOIN metric_values v
              ON v.model_id = m.model_id AND v.revision_sha = m.sha
            GROUP BY m.model_id, m.sha, v.metric;
        CREATE OR REPLACE VIEW v_candidates AS
            WITH discovery AS (
                SELECT model_id, arg_max(status, event_id) AS status, max(created_at) AS since
                FROM model_status_events
                WHERE status IN ('discovered', 'candidate', 'filtered_out')
                GROUP BY model_id
            )
            SELECT m.*, d.since AS candidate_since
            FROM models m JOIN discovery d USING (model_id)
            WHERE d.status = 'candidate';
        CREATE VIEW v_gate AS
            SELECT model_id, revision_sha,
                   arg_max(passed, created_at) AS passed,
                   arg_max(message, created_at) AS message,
                   arg_max(failed_metrics, created_at) AS failed_metrics,
                   arg_max(run_id, created_at) AS run_id,
                   max(created_at) AS decided_at
            FROM gate_results GROUP BY model_id, revision_sha;
        """,
    ),
    (
        4,
        "packages and ad-hoc ingest requests",
        """
        CREATE TABLE packages (
            package_id    VARCHAR PRIMARY KEY,
            name          VARCHAR NOT NULL,
            version       VARCHAR NOT NULL,
            model_id      VARCHAR NOT NULL,
            revision_sha  VARCHAR NOT NULL,
            uri           VARCHAR NOT NULL,
            size_bytes    BIGINT NOT NULL,
            sha256        VARCHAR NOT NULL,
            manifest      JSON NOT NULL,
            model_card    VARCHAR NOT NULL,
            net_score     DOUBLE,
            description   VARCHAR,
            run_id        VARCHAR NOT NULL,
            created_at    TIMESTAMPTZ NOT NULL,
            UNIQUE (name, version)
        );
        CREATE SEQUENCE ingest_request_ids;
        CREATE TABLE ingest_requests (
            request_id    BIGINT PRIMARY KEY DEFAULT nextval('ingest_request_ids'),
            model_id      VARCHAR NOT NULL,
            version       VARCHAR NOT NULL,
            description   VARCHAR,
            status        VARCHAR NOT NULL,
            outcome       VARCHAR,
            message       VARCHAR,
            package_id    VARCHAR,
            run_id        VARCHAR,
            requested_at  TIMESTAMPTZ NOT NULL,
            updated_at    TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        5,
        "evaluation datasets, shadow evaluation runs and samples, leaderboard",
        """
        CREATE TABLE eval_datasets (
            repo_id      VARCHAR NOT NULL,
            revision     VARCHAR NOT NULL,
            task         VARCHAR NOT NULL,
            fingerprint  VARCHAR NOT NULL,
            row_counts   JSON NOT NULL,
            folder       VARCHAR NOT NULL,
            run_id       VARCHAR,
            recorded_at  TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (repo_id, revision)
        );
        CREATE TABLE eval_runs (
            eval_run_id         VARCHAR PRIMARY KEY,
            cache_key           VARCHAR NOT NULL,
            model_id            VARCHAR NOT NULL,
            revision_sha        VARCHAR NOT NULL,
            task                VARCHAR NOT NULL,
            dataset_repo        VARCHAR NOT NULL,
            dataset_revision    VARCHAR NOT NULL,
            dataset_fingerprint VARCHAR NOT NULL,
            generation_config   JSON NOT NULL,
            scorer_version      VARCHAR NOT NULL,
            scores              JSON NOT NULL,
            claims              JSON NOT NULL,
            samples             INTEGER NOT NULL,
            failed_samples      INTEGER NOT NULL,
            duration_s          DOUBLE,
            run_id              VARCHAR NOT NULL,
            created_at          TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE eval_samples (
            eval_run_id            VARCHAR NOT NULL,
            sample_id              VARCHAR NOT NULL,
            prediction             VARCHAR,
            scores                 JSON NOT NULL,
            prompt_hash            VARCHAR NOT NULL,
            reference_hash         VARCHAR NOT NULL,
            generation_config_hash VARCHAR NOT NULL,
            error                  VARCHAR,
            PRIMARY KEY (eval_run_id, sample_id)
        );
        CREATE VIEW v_leaderboard AS
            WITH latest AS (
                SELECT e.model_id, e.task, arg_max(e.scores, e.created_at) AS scores,
                       arg_max(e.dataset_repo, e.created_at) AS dataset,
                       arg_max(e.eval_run_id, e.created_at) AS eval_run_id,
                       max(e.created_at) AS evaluated_at
                FROM eval_runs e JOIN models m
                  ON m.model_id = e.model_id AND m.sha = e.revision_sha
                GROUP BY e.model_id, e.task
            )
            SELECT l.model_id, l.task, l.dataset,
                   CAST(l.scores->>'f1' AS DOUBLE) AS qa_f1,
                   CAST(l.scores->>'exact_match' AS DOUBLE) AS qa_exact_match,
                   CAST(l.scores->>'rouge_l' AS DOUBLE) AS qa_rouge_l,
                   CAST(l.scores->>'bleu' AS DOUBLE) AS qa_bleu,
                   CAST(l.scores->>'ndcg_at_10' AS DOUBLE) AS ndcg_at_10,
                   CAST(l.scores->>'mrr_at_10' AS DOUBLE) AS mrr_at_10,
                   CAST(l.scores->>'recall_at_10' AS DOUBLE) AS recall_at_10,
                   n.value AS net_score, g.passed AS gate_passed,
                   l.eval_run_id, l.evaluated_at
            FROM latest l
            LEFT JOIN v_latest_metrics n ON n.model_id = l.model_id AND n.metric = 'net_score'
            LEFT JOIN models m ON m.model_id = l.model_id
            LEFT JOIN v_gate g ON g.model_id = l.model_id AND g.revision_sha = m.sha;
        """,
    ),
    (
        6,
        "evaluation evidence: bootstrap intervals, chance baselines, backend; leaderboard",
        """
        ALTER TABLE eval_runs ADD COLUMN intervals JSON;
        ALTER TABLE eval_runs ADD COLUMN baseline JSON;
        ALTER TABLE eval_runs ADD COLUMN backend VARCHAR;
        DROP VIEW v_leaderboard;
        CREATE VIEW v_leaderboard AS
            WITH latest AS (
                SELECT e.model_id, e.task,
                       arg_max(e.scores, e.created_at) AS scores,
                       arg_max(e.intervals, e.created_at) AS intervals,
                       arg_max(e.baseline, e.created_at) AS baseline,
                       arg_max(e.claims, e.created_at) AS claims,
                       arg_max(e.backend, e.created_at) AS backend,
                       arg_max(e.dataset_repo, e.created_at) AS dataset,
                       arg_max(e.dataset_revision, e.created_at) AS dataset_revision,
                       arg_max(e.eval_run_id, e.created_at) AS eval_run_id,
                       max(e.created_at) AS evaluated_at
                FROM eval_runs e JOIN models m
                  ON m.model_id = e.model_id AND m.sha = e.revision_sha
                GROUP BY e.model_id, e.task
            ), judged AS (
                SELECT *, CASE task WHEN 'qa' THEN 'f1' ELSE 'ndcg_at_10' END AS primary_metric
                FROM latest
            )
            SELECT l.model_id, l.task, l.dataset, l.dataset_revision, l.primary_metric,
                   CAST(json_extract(l.scores, '$.' || l.primary_metric) AS DOUBLE) AS score,
                   CAST(json_extract(l.intervals, '$.' || l.primary_metric || '[0]') AS DOUBLE)
                       AS ci_low,
                   CAST(json_extract(l.intervals, '$.' || l.primary_metric || '[1]') AS DOUBLE)
                       AS ci_high,
                   CAST(json_extract(l.baseline, '$.scores.' || l.primary_metric) AS DOUBLE)
                       AS chance,
                   (SELECT max(CAST(c->>'claimed' AS DOUBLE))
                      FROM (SELECT unnest(CAST(l.claims AS JSON[])) AS c)
                     WHERE c->>'metric' = l.primary_metric) AS claimed,
                   CAST(l.scores->>'f1' AS DOUBLE) AS qa_f1,
                   CAST(l.scores->>'exact_match' AS DOUBLE) AS qa_exact_match,
                   CAST(l.scores->>'rouge_l' AS DOUBLE) AS qa_rouge_l,
                   CAST(l.scores->>'bleu' AS DOUBLE) AS qa_bleu,
                   CAST(l.scores->>'ndcg_at_10' AS DOUBLE) AS ndcg_at_10,
                   CAST(l.scores->>'mrr_at_10' AS DOUBLE) AS mrr_at_10,
                   CAST(l.scores->>'recall_at_10' AS DOUBLE) AS recall_at_10,
                   coalesce(l.backend, 'local') AS backend,
                   n.value AS net_score, g.passed AS gate_passed,
                   l.eval_run_id, l.evaluated_at
            FROM judged l
            LEFT JOIN v_latest_metrics n ON n.model_id = l.model_id AND n.metric = 'net_score'
            LEFT JOIN models m ON m.model_id = l.model_id
            LEFT JOIN v_gate g ON g.model_id = l.model_id AND g.revision_sha = m.sha;
        CREATE VIEW v_chance_baselines AS
            SELECT task, dataset, dataset_revision, primary_metric,
                   arg_max(baseline->>'name', evaluated_at) AS baseline,
                   arg_max(chance, evaluated_at) AS chance
            FROM v_leaderboard l
            JOIN (SELECT eval_run_id, baseline FROM eval_runs) e USING (eval_run_id)
            WHERE chance IS NOT NULL
            GROUP BY task, dataset, dataset_revision, primary_metric;
        """,
    ),
    (
        7,
        "users, API tokens, audit events, Hub traffic, package retirement",
        """
        CREATE TABLE users (
            username      VARCHAR PRIMARY KEY,
            password_hash VARCHAR,
            permissions   VARCHAR[] NOT NULL,
            created_at    TIMESTAMPTZ NOT NULL,
            created_by    VARCHAR,
            disabled_at   TIMESTAMPTZ
        );
        CREATE SEQUENCE api_token_ids;
        CREATE TABLE api_tokens (
            token_id    BIGINT PRIMARY KEY DEFAULT nextval('api_token_ids'),
            username    VARCHAR NOT NULL,
            name        VARCHAR NOT NULL,
            kind        VARCHAR NOT NULL,
            secret_hash VARCHAR NOT NULL,
            created_at  TIMESTAMPTZ NOT NULL,
            expires_at  TIMESTAMPTZ,
            revoked_at  TIMESTAMPTZ,
            last_used   TIMESTAMPTZ
        );
        CREATE SEQUENCE audit_event_ids;
        CREATE TABLE audit_events (
            event_id   BIGINT PRIMARY KEY DEFAULT nextval('audit_event_ids'),
            created_at TIMESTAMPTZ NOT NULL,
            username   VARCHAR,
            action     VARCHAR NOT NULL,
            target     VARCHAR,
            outcome    VARCHAR NOT NULL,
            status     INTEGER,
            request_id VARCHAR,
            client     VARCHAR,
            detail     VARCHAR
        );
        CREATE TABLE hub_traffic (
            run_id           VARCHAR NOT NULL,
            stage            VARCHAR NOT NULL,
            model_id         VARCHAR,
            requests         BIGINT NOT NULL,
            rate_limited     BIGINT NOT NULL,
            bytes_downloaded BIGINT NOT NULL,
            created_at       TIMESTAMPTZ NOT NULL
        );
        ALTER TABLE packages ADD COLUMN retired_at TIMESTAMPTZ;
        ALTER TABLE packages ADD COLUMN retired_by VARCHAR;
        """,
    ),
]
