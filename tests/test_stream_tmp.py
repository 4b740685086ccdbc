import openai, pytest
from gateway.models import Generation

@pytest.mark.django_db(transaction=True)
def test_sdk_stream(live_server, make_model, make_account, upstream):
    make_model("test/echo")
    acct = make_account(1_000_000)
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=acct.secret)
    chunks = list(client.chat.completions.create(model="test/echo", stream=True, max_tokens=50,
        messages=[{"role": "user", "content": "alpha beta gamma"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: alpha beta gamma"
    last = chunks[-1]
    assert last.usage.completion_tokens == 4 and last.usage.prompt_tokens == 10
    cost = last.usage.model_extra["cost"]
    assert cost == 100
    assert acct.balance() == 1_000_000 - 100 and acct.held() == 0
    g = Generation.objects.get()
    assert g.is_streamed and g.status == "success" and not g.usage_estimated
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}


@pytest.mark.django_db(transaction=True)
def test_sdk_completions_embeddings_sandbox(live_server, make_account):
    from catalog.services import catalog_import
    import json, pathlib
    catalog_import(data=json.loads(pathlib.Path("catalog/demo_catalog.json").read_text()))
    acct = make_account(1_000_000)
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=acct.secret)
    c = client.completions.create(model="sandbox", prompt="hi there", max_tokens=20)
    assert c.choices[0].text == "Sandbox reply: hi there", c
    s = list(client.completions.create(model="sandbox", prompt="hi there", stream=True))
    assert "".join(x.choices[0].text for x in s if x.choices) == "Sandbox reply: hi there"
    e = client.embeddings.create(model="sandbox", input=["a", "b"], dimensions=4)
    assert len(e.data) == 2 and len(e.data[0].embedding) == 4
    e2 = client.embeddings.create(model="sandbox", input="a")
    assert len(e2.data[0].embedding) == 8
