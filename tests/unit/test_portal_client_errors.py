"""Which failed portal requests the actions' client sends once more: only those the portal
cannot have seen."""
import aiohttp
from aiohttp.client_reqrep import ConnectionKey

from actions.portal_client import not_sent

KEY = ConnectionKey("127.0.0.1", 8000, False, True, None, None, None)


def test_a_request_whose_body_could_not_be_written_was_not_sent():
    assert not_sent(aiohttp.ClientOSError(
        32, "Can not write request body for http://127.0.0.1:8000/api/v1/gateway/webchat/messages"))
    assert not_sent(aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")))


def test_a_request_that_may_have_reached_the_portal_is_not_repeated():
    assert not not_sent(aiohttp.ServerDisconnectedError())
    assert not not_sent(aiohttp.ClientOSError(104, "Connection reset by peer"))
    assert not not_sent(aiohttp.ClientResponseError(None, (), status=502))
    assert not not_sent(TimeoutError())
