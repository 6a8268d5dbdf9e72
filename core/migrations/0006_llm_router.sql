-- The cost-aware router: cache-write tokens and error text in the ledger, the finance report's
-- indexes, and per-organization budget overrides of the PVARA_LLM_BUDGETS defaults.

ALTER TABLE ai_screening_log
    ADD COLUMN cache_write_tokens integer NOT NULL DEFAULT 0,
    ADD COLUMN error text;
CREATE INDEX ai_screening_log_job_idx ON ai_screening_log (job_id, created_at);

-- provider '*' = all providers of the organization together; period 'day' or 'month' (UTC).
CREATE TABLE llm_budgets (
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    provider         text NOT NULL CHECK (provider IN ('*', 'ollama', 'anthropic', 'openai')),
    period           text NOT NULL CHECK (period IN ('day', 'month')),
    limit_usd        numeric(14, 4) NOT NULL CHECK (limit_usd >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, provider, period)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON llm_budgets TO pvara_app;
ALTER TABLE llm_budgets ENABLE ROW LEVEL SECURITY;
CREATE POLICY llm_budgets_own ON llm_budgets TO pvara_app
    USING (organization_id = pvara_current_org())
    WITH CHECK (organization_id = pvara_current_org());
