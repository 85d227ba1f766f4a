"""The registry's schema as numbered migrations, oldest first: each is (number, why, SQL).
The first seven are in `registry/first_migrations.py`.

Never edit a migration that has shipped: add the next number. `registry/migrations.py`
applies them, each in one transaction with the `schema_migrations` row that records it."""

from __future__ import annotations

from hub_assets.evaluation.measurement import PRIMARY
from hub_assets.registry.first_migrations import FIRST_MIGRATIONS

# A task's primary metric, as SQL, from the one table of them (evaluation.measurement).
PRIMARY_METRIC_SQL = (
    "CASE task "
    + " ".join(f"WHEN '{task}' THEN '{metrics[0]}'" for task, metrics in sorted(PRIMARY.items()))
    + " END"
)


MIGRATIONS: list[tuple[int, str, str]] = [
    *FIRST_MIGRATIONS,
    (
        8,
        "inference-API evaluations: coverage and API figures, runs not measured, sample backend",
        """
        ALTER TABLE eval_runs ADD COLUMN coverage DOUBLE;
        ALTER TABLE eval_runs ADD COLUMN api_stats JSON;
        ALTER TABLE eval_samples ADD COLUMN backend VARCHAR;
        CREATE TABLE eval_unmeasured (
            eval_run_id      VARCHAR PRIMARY KEY,
            model_id         VARCHAR NOT NULL,
            revision_sha     VARCHAR NOT NULL,
            task             VARCHAR NOT NULL,
            dataset_repo     VARCHAR NOT NULL,
            dataset_revision VARCHAR NOT NULL,
            backend          VARCHAR NOT NULL,
            samples          INTEGER NOT NULL,
            coverage         DOUBLE NOT NULL,
            api_stats        JSON,
            reason           VARCHAR NOT NULL,
            run_id           VARCHAR NOT NULL,
            created_at       TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        9,
        "the model tree: (child, parent, relation) edges with their evidence",
        """
        CREATE TABLE model_tree_edges (
            child        VARCHAR NOT NULL,
            parent       VARCHAR NOT NULL,
            relation     VARCHAR NOT NULL,
            evidence     VARCHAR NOT NULL,
            child_sha    VARCHAR NOT NULL,
            recorded_at  TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (child, parent)
        );
        """,
    ),
    (
        10,
        "the gate override that applied to a decision, with its reviewer and reason",
        "ALTER TABLE gate_results ADD COLUMN override JSON;",
    ),
    (
        11,
        "hardware fit: the RAM estimate beside the reproducibility run's measurement",
        """
        CREATE TABLE hardware_fit (
            model_id             VARCHAR NOT NULL,
            revision_sha         VARCHAR NOT NULL,
            source               VARCHAR NOT NULL,
            parameters           BIGINT,
            parameters_by_dtype  JSON NOT NULL,
            footprint            JSON NOT NULL,
            quantization         VARCHAR,
            gguf_file            VARCHAR,
            runtime              VARCHAR NOT NULL,
            context_length       INTEGER NOT NULL,
            weights_bytes        BIGINT NOT NULL,
            kv_cache_bytes       BIGINT NOT NULL,
            overhead_bytes       BIGINT NOT NULL,
            estimate_bytes       BIGINT NOT NULL,
            fit_per_device       JSON NOT NULL,
            measured_runtime     VARCHAR,
            measured_context     INTEGER,
            estimate_at_measured_bytes BIGINT,
            peak_rss_bytes       BIGINT,
            load_s               DOUBLE,
            first_output_s       DOUBLE,
            estimate_error       DOUBLE,
            inputs_fingerprint   VARCHAR NOT NULL,
            code_version         VARCHAR NOT NULL,
            run_id               VARCHAR NOT NULL,
            recorded_at          TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (model_id, revision_sha)
        );
        """,
    ),
    (
        12,
        "a package name and version claimed before its bytes are written, so two runs never "
        "write the same package object",
        """
        CREATE TABLE package_claims (
            name          VARCHAR NOT NULL,
            version       VARCHAR NOT NULL,
            model_id      VARCHAR NOT NULL,
            revision_sha  VARCHAR NOT NULL,
            run_id        VARCHAR NOT NULL,
            claimed_at    TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (name, version)
        );
        """,
    ),
    (
        13,
        "who asked for an ingestion: the two-person rule keeps them from promoting it",
        "ALTER TABLE ingest_requests ADD COLUMN requested_by VARCHAR;",
    ),
    (
        14,
        "one definition each: a task's primary metric from evaluation.measurement.PRIMARY, "
        "and the latest gate result of a revision (v_gate, with every column readers need)",
        """
        CREATE OR REPLACE VIEW v_gate AS
            SELECT model_id, revision_sha,
                   arg_max(passed, created_at) AS passed,
                   arg_max(message, created_at) AS message,
                   arg_max(failed_metrics, created_at) AS failed_metrics,
                   arg_max_null(thresholds, created_at) AS thresholds,
                   arg_max_null(config_version, created_at) AS config_version,
                   arg_max_null(target_device, created_at) AS target_device,
                   arg_max_null(override, created_at) AS override,
                   arg_max(run_id, created_at) AS run_id,
                   max(created_at) AS decided_at
            FROM gate_results GROUP BY model_id, revision_sha;
        CREATE OR REPLACE VIEW v_leaderboard AS
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
                SELECT *, """
        + PRIMARY_METRIC_SQL
        + """ AS primary_metric
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
        """,
    ),
    (
        15,
        "contamination: each evaluation records whether the model was trained on its set "
        "(declared through the model tree, or measured); the leaderboard has one row per "
        "(model, task, evaluation set) with that flag",
        """
        ALTER TABLE eval_runs ADD COLUMN contamination JSON;
        CREATE OR REPLACE VIEW v_leaderboard AS
            WITH latest AS (
                SELECT e.model_id, e.task, e.dataset_repo AS dataset,
                       arg_max(e.scores, e.created_at) AS scores,
                       arg_max(e.intervals, e.created_at) AS intervals,
                       arg_max(e.baseline, e.created_at) AS baseline,
                       arg_max(e.claims, e.created_at) AS claims,
                       arg_max(e.backend, e.created_at) AS backend,
                       arg_max(e.dataset_revision, e.created_at) AS dataset_revision,
                       arg_max_null(e.contamination, e.created_at) AS contamination,
                       arg_max(e.eval_run_id, e.created_at) AS eval_run_id,
                       max(e.created_at) AS evaluated_at
                FROM eval_runs e JOIN models m
                  ON m.model_id = e.model_id AND m.sha = e.revision_sha
                GROUP BY e.model_id, e.task, e.dataset_repo
            ), judged AS (
                SELECT *, """
        + PRIMARY_METRIC_SQL
        + """ AS primary_metric
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
                   coalesce(CAST(l.contamination AS JSON)->>'flag', 'not_checked')
                       AS contamination,
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
        """,
    ),
    (
        16,
        "the mirror's access log: one row per request (who, which model, revision and file, "
        "bytes, status, why it was refused)",
        """
        CREATE TABLE mirror_requests (
            requested_at TIMESTAMPTZ NOT NULL,
            caller       VARCHAR,
            method       VARCHAR NOT NULL,
            route        VARCHAR NOT NULL,
            model_id     VARCHAR,
            revision     VARCHAR,
            revision_sha VARCHAR,
            path         VARCHAR,
            status       INTEGER NOT NULL,
            bytes        BIGINT NOT NULL,
            refusal      VARCHAR,
            client       VARCHAR
        );
        """,
    ),
    (
        17,
        "access requests through the mirror, in the Hub's gated-access shape: who asked for "
        "which model, with what form fields, and the reviewer's decision",
        """
        CREATE TABLE access_requests (
            request_id        VARCHAR PRIMARY KEY,
            model_id          VARCHAR NOT NULL,
            username          VARCHAR NOT NULL,
            status            VARCHAR NOT NULL,
            fields            JSON,
            ingest_request_id BIGINT,
            decided_by        VARCHAR,
            reason            VARCHAR,
            requested_at      TIMESTAMPTZ NOT NULL,
            decided_at        TIMESTAMPTZ
        );
        """,
    ),
    (
        18,
        "the lockfiles `hub-assets lock` wrote: which revisions each pins, where and by whom, "
        "so a gate change or a revocation can name the locks it affects",
        """
        CREATE TABLE lockfiles (
            lock_id       VARCHAR NOT NULL,
            path          VARCHAR NOT NULL,
            model_id      VARCHAR NOT NULL,
            revision_sha  VARCHAR NOT NULL,
            created_by    VARCHAR,
            created_at    TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (lock_id, model_id)
        );
        """,
    ),
    (
        19,
        "the policy profile a token selects on the mirror (NULL: the default profile)",
        """
        ALTER TABLE api_tokens ADD COLUMN profile VARCHAR;
        """,
    ),
    (
        20,
        "events out: per webhook endpoint, the last lifecycle event it acknowledged and the "
        "back-off of the next (model_status_events is the outbox: an event is there exactly "
        "when its change committed), and every delivery attempt",
        """
        CREATE TABLE event_cursors (
            endpoint          VARCHAR PRIMARY KEY,
            delivered_through BIGINT NOT NULL,
            attempts          INTEGER NOT NULL,
            next_attempt_at   TIMESTAMPTZ,
            last_error        VARCHAR,
            updated_at        TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE event_deliveries (
            endpoint     VARCHAR NOT NULL,
            event_id     BIGINT NOT NULL,
            attempt      INTEGER NOT NULL,
            delivered    BOOLEAN NOT NULL,
            status       INTEGER,
            error        VARCHAR,
            attempted_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        21,
        "gate configs applied through the registry (hub-assets gate apply): the YAML as "
        "applied, who applied it and why, and how many verdicts it would flip; the newest "
        "is the gate",
        """
        CREATE TABLE gate_configs (
            config_id      BIGINT PRIMARY KEY,
            version        VARCHAR NOT NULL,
            config_yaml    VARCHAR NOT NULL,
            sha256         VARCHAR NOT NULL,
            previous       VARCHAR,
            applied_by     VARCHAR NOT NULL,
            reason         VARCHAR NOT NULL,
            flips          INTEGER NOT NULL,
            newly_failing  INTEGER NOT NULL,
            newly_passing  INTEGER NOT NULL,
            applied_at     TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        22,
        "comparability keys: every evaluation run, metric value and gate result records "
        "what it rests on (basis) and a digest of it (basis_key, hub_assets.comparability); "
        "rows from before get a legacy key made of their stored inputs; the ranked "
        "leaderboard ranks only scores with one key together",
        """
        ALTER TABLE eval_runs ADD COLUMN basis JSON;
        ALTER TABLE eval_runs ADD COLUMN basis_key VARCHAR;
        UPDATE eval_runs SET basis_key = 'legacy-' || md5(concat_ws('|', task, dataset_repo,
            dataset_revision, dataset_fingerprint, scorer_version, coalesce(backend, 'local'),
            CAST(generation_config AS VARCHAR)));
        ALTER TABLE metric_values ADD COLUMN basis JSON;
        ALTER TABLE metric_values ADD COLUMN basis_key VARCHAR;
        UPDATE metric_values SET basis_key = 'legacy-' || md5(concat_ws('|', metric,
            coalesce(code_version, '')));
        ALTER TABLE gate_results ADD COLUMN basis JSON;
        ALTER TABLE gate_results ADD COLUMN basis_key VARCHAR;
        UPDATE gate_results SET basis_key = 'legacy-' || md5(concat_ws('|', config_version,
            target_device, CAST(thresholds AS VARCHAR)));
        CREATE OR REPLACE VIEW v_gate AS
            SELECT model_id, revision_sha,
                   arg_max(passed, created_at) AS passed,
                   arg_max(message, created_at) AS message,
                   arg_max(failed_metrics, created_at) AS failed_metrics,
                   arg_max_null(thresholds, created_at) AS thresholds,
                   arg_max_null(config_version, created_at) AS config_version,
                   arg_max_null(target_device, created_at) AS target_device,
                   arg_max_null(override, created_at) AS override,
                   arg_max_null(basis_key, created_at) AS basis_key,
                   arg_max(run_id, created_at) AS run_id,
                   max(created_at) AS decided_at
            FROM gate_results GROUP BY model_id, revision_sha;
        CREATE OR REPLACE VIEW v_leaderboard_ranked AS
            SELECT l.*, e.basis_key, e.basis, e.scorer_version,
                   dense_rank() OVER (PARTITION BY l.task, l.dataset, e.basis_key
                                      ORDER BY l.score DESC NULLS LAST) AS rank
            FROM v_leaderboard l JOIN eval_runs e ON e.eval_run_id = l.eval_run_id;
        """,
    ),
    (
        23,
        "upstream deletion: when the Hub said a known model's repo is gone (its webhook, or "
        "a 404 for the repo); cleared when the model is seen again",
        """
        ALTER TABLE models ADD COLUMN upstream_deleted_at TIMESTAMPTZ;
        """,
    ),
    (
        24,
        "open regressions: each evaluation run records its comparison with the model's "
        "previous comparable run (status, the metrics that dropped significantly)",
        """
        ALTER TABLE eval_runs ADD COLUMN regression JSON;
        """,
    ),
    (
        25,
        "scanner keys: when each set of scanners, rule sets and allowlist was first in use "
        "(a security verdict made under earlier ones is fresh for the grace period after)",
        """
        CREATE TABLE scanner_keys (
            key        VARCHAR PRIMARY KEY,
            basis      JSON NOT NULL,
            first_seen TIMESTAMPTZ NOT NULL
        );
        """,
    ),
]
