import json, pathlib
import anthropic, pytest
from catalog.services import catalog_import

@pytest.mark.django_db(transaction=True)
def test_anthropic_sdk_sandbox(live_server, make_account):
    catalog_import(data=json.loads(pathlib.Path("catalog/demo_catalog.json").read_text()))
    acct = make_account(1_000_000)
    client = anthropic.Anthropic(base_url=live_server.url, api_key=acct.secret)
    m = client.messages.create(model="sandbox", max_tokens=50, messages=[{"role": "user", "content": "hi there"}])
    assert m.content[0].text == "Sandbox reply: hi there", m
    assert m.stop_reason == "end_turn"
    with client.messages.stream(model="sandbox", max_tokens=50, messages=[{"role": "user", "content": "hi there"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Sandbox reply: hi there"
    assert final.usage.output_tokens == 4
    n = client.messages.count_tokens(model="sandbox", messages=[{"role": "user", "content": "hi there"}])
    assert n.input_tokens == 2
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=live_server.url, api_key="sk-bad").messages.create(model="sandbox", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])


@pytest.mark.django_db(transaction=True)
def test_openai_responses_sandbox(live_server, make_account):
    import openai
    catalog_import(data=json.loads(pathlib.Path("catalog/demo_catalog.json").read_text()))
    acct = make_account(1_000_000)
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=acct.secret)
    r = client.responses.create(model="sandbox", input="hi there", instructions="be nice")
    assert r.output_text == "Sandbox reply: hi there", r
    assert r.usage.output_tokens == 4
    events = list(client.responses.create(model="sandbox", input="hi there", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    done = events[-1].response
    assert done.output_text == "Sandbox reply: hi there"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="sandbox", input="x", previous_response_id="resp_1")
