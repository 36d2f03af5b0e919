-- genai-prices' price points, every recorded version: the price_points_staging macro.

{{ price_points_staging('genai_prices') }}
