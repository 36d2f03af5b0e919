{#-
    ModelAtlas's provider id of an OpenRouter upstream provider (`provider_name` of an endpoint): the providers
    ModelAtlas names, else the name cleaned to lower-case words joined by `_` (`DeepInfra` -> `deepinfra`), as
    price sources' unmatched provider ids are.
-#}
{% macro openrouter_upstream_provider(provider_name) -%}
    case
        when {{ provider_name }} = 'Anthropic' then 'anthropic'
        when {{ provider_name }} = 'OpenAI' then 'openai'
        when {{ provider_name }} = 'Google AI Studio' then 'gemini'
        when {{ provider_name }} like 'Google Vertex%' then 'vertex_ai'
        when {{ provider_name }} = 'Mistral' then 'mistral'
        when {{ provider_name }} = 'Amazon Bedrock' then 'aws_bedrock'
        when {{ provider_name }} = 'Azure' then 'azure'
        when {{ provider_name }} = 'xAI' then 'xai'
        when {{ provider_name }} = 'Together' then 'together'
        when {{ provider_name }} = 'Fireworks' then 'fireworks'
        when {{ provider_name }} = 'Moonshot AI' then 'moonshot'
        else nullif(trim(both '_' from regexp_replace(lower({{ provider_name }}), '[^a-z0-9]+', '_', 'g')), '')
    end
{%- endmacro %}

{#-
    ModelAtlas's provider id of the organisation that made an OpenRouter model, from the author in its id
    (`google/gemini-2.5-pro` -> gemini); other authors are kept as they are (`meta-llama`, `deepseek`).
-#}
{% macro openrouter_author_provider(model_id) -%}
    case split_part(lower({{ model_id }}), '/', 1)
        when 'google' then 'gemini'
        when 'mistralai' then 'mistral'
        else nullif(split_part(lower({{ model_id }}), '/', 1), '')
    end
{%- endmacro %}
