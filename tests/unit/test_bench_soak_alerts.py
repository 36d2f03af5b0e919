"""The soak's alert bookkeeping: receivers down for their first requests, duplicates counted per message."""

from __future__ import annotations

import httpx

from bench.soak.alerts import FAILED_REQUESTS, PATHS, accepted_duplicates, alert_environment
from modelatlas.simulator.receivers import AlertReceiver


def test_the_receivers_fail_their_first_requests_and_a_message_accepted_twice_is_a_duplicate() -> None:
    with AlertReceiver() as receiver:
        env = alert_environment(receiver)
        assert env["MODELATLAS_WEBHOOK_SECRET"] and str(env["MODELATLAS_WEBHOOK_SECRET"]).startswith("whsec_")
        url = str(env["MODELATLAS_WEBHOOK_URL"])
        ids = ["a"] * FAILED_REQUESTS + ["a", "b", "b", "c"]
        codes = [httpx.post(url, content=b"{}", headers={"webhook-id": i}).status_code for i in ids]
        assert codes == [500] * FAILED_REQUESTS + [200] * 4
        # "a" failed twice and was accepted once: no duplicate; "b" was accepted twice.
        assert accepted_duplicates(receiver, PATHS["webhook"]) == 1
        assert accepted_duplicates(receiver, PATHS["slack"]) == 0
