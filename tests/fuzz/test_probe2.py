import asyncio
import json

import pytest

from calls.models import Call
from telephony import tasks
from telephony.bridges.echo import EchoBridge
from telephony.media import MediaSession

pytestmark = pytest.mark.django_db(transaction=True)

class T:
    def __init__(self): self.sent=[]; self.closed=[]
    async def send_text(self, t): self.sent.append(t)
    async def close(self, code): self.closed.append(code)

def start(enc="PCMU", rate=8000, sid="s"):
    return json.dumps({"event":"start","stream_id":sid,"start":{"media_format":{"encoding":enc,"sample_rate":rate}}})
def media(chunk, payload="/w=="):
    return json.dumps({"event":"media","media":{"track":"inbound","chunk":chunk,"payload":payload}})

PROBES = {
 "deep": ["[" * 60000],
 "surrogate_stream": [start(sid="\ud800"), json.dumps({"event":"stop"})],
 "huge_gap": [start(), media("1"), media(str(10**20)), json.dumps({"event":"stop"})],
 "start_after_1003": [start("G722"), start()],
 "media_after_stop": [start(), json.dumps({"event":"stop"}), media("1")],
}

@pytest.mark.parametrize("name", PROBES)
async def test_probe(name, settings):
    settings.RECORD_CALLS = False
    call = await Call.objects.acreate(direction="inbound", bridge="echo")
    t = T()
    s = MediaSession(call=call, bridge=EchoBridge(), transport=t)
    for f in PROBES[name]:
        try:
            await s.on_text(f)
        except BaseException as e:
            print(name, "RAISED", type(e).__name__, str(e)[:100])
    try:
        await s.finish("done")
    except BaseException as e:
        print(name, "finish RAISED", type(e).__name__, str(e)[:100])
    await asyncio.sleep(0)
    print(name, "closed", t.closed, "malformed", s.inbound.malformed, "hb alive", s._heartbeat_task and not s._heartbeat_task.done(), "sender alive", s._sender_task and not s._sender_task.done())
    if s._heartbeat_task: s._heartbeat_task.cancel()
    await tasks.drain()
