import json

import pytest

from telephony import tasks
from tests.conftest import webhook
from tests.telephony.conftest import fake_telnyx  # noqa

pytestmark = pytest.mark.django_db(transaction=True)

CASES = {
  "old_date": webhook("call.initiated", {"call_control_id": "v3:a"}, occurred_at="0001-01-01T00:00:00+01:00"),
  "surrogate_id": webhook("call.dtmf.received", {}, id="\ud800"),
  "surrogate_from": webhook("call.initiated", {"call_control_id": "v3:b", "from": "\udfff"}),
  "long_ccid": webhook("call.initiated", {"call_control_id": "v3:" + "x"*1000}),
  "slash_ccid": webhook("call.initiated", {"call_control_id": "v3:../../x?y#z"}),
  "space_ccid": webhook("call.initiated", {"call_control_id": "v3: \x01 \u00e9"}),
  "list_session": webhook("call.answered", {"call_control_id": "", "call_session_id": [1, {"a": 2}]}),
}

@pytest.mark.parametrize("name", list(CASES) + ["deep"])
async def test_probe(name, async_post_webhook, fake_telnyx):
    fake_telnyx()
    body = b"[" * 100000 if name == "deep" else json.dumps(CASES[name]).encode()
    try:
        r = await async_post_webhook(body)
        print(name, r.status_code, r.content[:200])
    except Exception as e:
        print(name, "RAISED", type(e), e)
    await tasks.drain()
