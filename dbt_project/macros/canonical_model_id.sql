{#
  One model's identity across sources, from a provider's native id:
    anthropic/claude-sonnet-4.5 (OpenRouter), claude-sonnet-4-5-20250929 (Anthropic),
    us.anthropic.claude-sonnet-4-5-20250929-v1:0 (Bedrock), claude-sonnet-4-5@20250929 (Vertex AI) -> claude-sonnet-4-5
    meta-llama/Llama-3.1-8B-Instruct (Hugging Face), meta-llama/llama-3.1-8b-instruct (OpenRouter) -> llama-3-1-8b-instruct
    gpt-4o-2024-08-06 -> gpt-4o; mistral-large-2411, mistral-large-latest -> mistral-large; gemini-2.0-flash-001 -> gemini-2-0-flash
  Steps, in order: lower-case; drop an organisation prefix (`org/`) and Bedrock's `[region.]vendor.` prefix; drop
  Vertex AI's `@version`, then OpenRouter's `:variant` and Bedrock's `-v1:0`; drop a trailing release date or
  revision (-20250929, -2024-08-06, -2411, -001) and `-latest`; write version dots as dashes (3.5 -> 3-5; twice, as
  1.2.3 overlaps). Exceptions in the canonical_model_overrides seed, applied in int_model_identities and
  int_price_points_unioned.
#}
{% macro canonical_model_id(model_id) -%}
    case
    -- A fine-tuned model (Mistral's and OpenAI's ft:base:org:id) is its own model: its id is kept whole.
    when lower({{ model_id }}) like 'ft:%' then lower({{ model_id }})
    else regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        regexp_replace(
                            regexp_replace(
                                regexp_replace(lower({{ model_id }}), '^.*/', ''),
                                '^((us|eu|apac|global)\.)?(anthropic|meta|mistral|amazon|cohere|ai21|deepseek|qwen|openai)\.', ''
                            ),
                            '@[^@]*$', ''
                        ),
                        '(-v\d+(:\d+)?|:[a-z0-9-]+)$', ''
                    ),
                    '-(\d{8}|\d{4}-\d{2}-\d{2}|\d{4}|\d{3}|latest)$', ''
                ),
                '(\d)\.(\d)', '\1-\2', 'g'
            ),
            '(\d)\.(\d)', '\1-\2', 'g'
        ),
        '-+$', ''
    )
    end
{%- endmacro %}
