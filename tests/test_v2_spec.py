"""
What twupload sends to every v2 media endpoint, checked against X's published OpenAPI spec.

The spec's request schemas are test data (tests/spec/x-api-v2-media.json, with
the spec's version, date and source), transcribed from the spec, not from
twupload. Requests are captured with respx and checked field by field: names,
types, formats, enums, patterns, ranges, required fields and, where the spec
closes the object (``additionalProperties: false``), the absence of others.
Multipart fields are text, so an ``integer`` there is a decimal string.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
import respx

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twupload import AsyncMediaClient, BearerToken

from fakes import FakeTime
from samples import gif, mp4, png


if TYPE_CHECKING:
    from collections.abc import Iterator


SPEC = json.loads(
    (Path(__file__).parent / "spec" / "x-api-v2-media.json").read_text(encoding="utf-8")
)
OPERATIONS: dict[str, dict[str, Any]] = SPEC["operations"]
API = "https://api.x.com"
MEDIA_ID = "1880028106020515840"
# X user ids are 64-bit snowflakes: at most 19 digits, as the spec's pattern says.
USER_IDS = st.integers(min_value=1, max_value=2**63 - 1)


# A small validator for the subset of JSON Schema the spec's request bodies use.


def _json_type_ok(value: Any, kind: str) -> bool:
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    }
    return bool(checks[kind](value))


def _scalar_violations(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """
    What breaks enum, pattern, maxLength, minimum and maximum.
    """
    found: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        found.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        found.append(f"{where}: longer than {schema['maxLength']}")
    if "minimum" in schema and value < schema["minimum"]:
        found.append(f"{where}: {value!r} < {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        found.append(f"{where}: {value!r} > {schema['maximum']}")
    return found


def _object_violations(
    value: dict[str, Any], schema: dict[str, Any], where: str
) -> list[str]:
    """
    Missing required properties, bad property values, and properties a closed object lacks.
    """
    properties = schema.get("properties", {})
    found = [
        f"{where}: required {name!r} is missing"
        for name in schema.get("required", ())
        if name not in value
    ]
    for name, item in value.items():
        if name in properties:
            found += violations(item, properties[name], f"{where}.{name}")
        elif schema.get("additionalProperties") is False:
            found.append(f"{where}: {name!r} is not a property of the spec's schema")
    return found


def violations(value: Any, schema: dict[str, Any], where: str = "body") -> list[str]:
    """
    Every way *value* (parsed JSON) breaks *schema*; empty when it conforms.
    """
    if "anyOf" in schema:
        if any(not violations(value, option, where) for option in schema["anyOf"]):
            return []
        return [f"{where}: matches none of {schema['anyOf']}"]
    kind = schema.get("type")
    if kind is not None and not _json_type_ok(value, kind):
        return [f"{where}: {value!r} is not of type {kind}"]
    if kind == "array":
        return [
            problem
            for index, item in enumerate(value)
            for problem in violations(
                item, schema.get("items", {}), f"{where}[{index}]"
            )
        ]
    if kind == "object":
        return _object_violations(value, schema, where)
    return _scalar_violations(value, schema, where)


def multipart_pairs(request: httpx.Request) -> list[tuple[str, bytes]]:
    """
    The (name, raw value) of every multipart part, repeated names kept, in order.
    """
    content_type = request.headers["content-type"]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.content
    )
    assert message.is_multipart()
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str)
        assert isinstance(payload, bytes)
        pairs.append((name, payload))
    return pairs


def _form_value(raw: bytes, schema: dict[str, Any]) -> Any:
    """
    A multipart field as the JSON value it stands for: bytes stay bytes, text is typed.
    """
    if schema.get("format") == "binary" or any(
        option.get("format") == "binary" for option in schema.get("anyOf", ())
    ):
        return ""  # raw bytes: any content is a binary string
    text = raw.decode("utf-8")
    kind = schema.get("type")
    if kind == "integer":
        return int(text) if re.fullmatch(r"-?[0-9]+", text) else text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def multipart_violations(request: httpx.Request, schema: dict[str, Any]) -> list[str]:
    """
    Check a multipart body against an object schema; an array is a repeated field.
    """
    fields: dict[str, list[bytes]] = {}
    for name, raw in multipart_pairs(request):
        fields.setdefault(name, []).append(raw)
    properties = schema["properties"]
    value: dict[str, Any] = {}
    found: list[str] = []
    for name, raws in fields.items():
        prop = properties.get(name, {})
        if prop.get("type") == "array":
            value[name] = [_form_value(raw, prop.get("items", {})) for raw in raws]
        else:
            if len(raws) > 1:
                found.append(
                    f"body.{name}: sent {len(raws)} times, the spec has one value"
                )
            value[name] = _form_value(raws[0], prop)
    return found + violations(value, schema)


# What the client sends.


class Recorder:
    """
    A respx handler answering each v2 media endpoint as the service would, and keeping requests.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        image = {
            "id": MEDIA_ID,
            "media_key": f"3_{MEDIA_ID}",
            "size": 73,
            "expires_after_secs": 86400,
            "image": {"image_type": "image/png", "w": 2, "h": 2},
        }
        if path.endswith("/initialize"):
            data: dict[str, Any] = {
                "id": MEDIA_ID,
                "media_key": f"7_{MEDIA_ID}",
                "expires_after_secs": 3600,
            }
        elif path.endswith("/append"):
            data = {"expires_at": 1767229200}
        elif path.endswith("/finalize"):
            data = {
                **image,
                "processing_info": {"state": "pending", "check_after_secs": 1},
            }
        elif request.method == "GET":
            data = {**image, "processing_info": {"state": "succeeded"}}
        else:
            data = {"id": MEDIA_ID} if path.endswith("/metadata") else image
        return httpx.Response(200, json={"data": data})

    def of(self, operation: str) -> list[httpx.Request]:
        """
        The recorded requests that match *operation*'s method and path template.
        """
        return [r for r in self.requests if _operation_of(r) == operation]


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")


def _operation_of(request: httpx.Request) -> str | None:
    for name, operation in OPERATIONS.items():
        if request.method == operation["method"] and _template(operation["path"]).match(
            request.url.path
        ):
            return name
    return None


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    with respx.mock(assert_all_called=False) as router:
        router.route(host="api.x.com").mock(side_effect=handler)
        yield handler


def _client(**options: Any) -> AsyncMediaClient:
    time = FakeTime()
    return AsyncMediaClient(
        BearerToken("user-token"),
        api="2",
        clock=time.clock,
        sleep=time.sleep,
        segment_bytes=4 * 1024 * 1024,
        **options,
    )


def check_request(request: httpx.Request) -> list[str]:
    """
    Everything *request* does that its operation in the spec does not allow.
    """
    name = _operation_of(request)
    if name is None:
        return [
            f"{request.method} {request.url.path} is no v2 media operation of the spec"
        ]
    operation = OPERATIONS[name]
    found: list[str] = []
    match = _template(operation["path"]).match(request.url.path)
    assert match is not None
    query = list(request.url.params.multi_items())
    params = operation["parameters"]
    for key, value in [*match.groupdict().items(), *query]:
        if key not in params:
            found.append(f"{name}: parameter {key!r} is not in the spec")
            continue
        found += violations(value, params[key]["schema"], f"{name}.{key}")
    sent = {key for key, _ in query} | set(match.groupdict())
    found += [
        f"{name}: required parameter {key!r} is missing"
        for key, spec in params.items()
        if spec["required"] and key not in sent
    ]
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    body = operation["body"]
    if body is None:
        if request.content:
            found.append(f"{name}: sent a body, the spec has none")
        return found
    if media_type not in operation["content_types"]:
        found.append(f"{name}: {media_type!r} is not in {operation['content_types']}")
    elif media_type == "multipart/form-data":
        found += multipart_violations(request, body)
    else:
        found += violations(json.loads(request.content), body)
    return found


def test_spec_data_names_its_source() -> None:
    """
    The spec data says which spec it is, from where and when.
    """
    assert SPEC["spec_title"] == "X API v2"
    assert SPEC["spec_version"] == "2.167"
    assert SPEC["source"] == "https://api.x.com/2/openapi.json"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", SPEC["published"])
    assert set(OPERATIONS) == {
        "mediaUpload",
        "initializeMediaUpload",
        "appendMediaUpload",
        "finalizeMediaUpload",
        "getMediaUploadStatus",
        "createMediaMetadata",
    }


@pytest.mark.parametrize(
    ("operation", "value", "problem"),
    [
        ("mediaUpload", {"media": "", "media_category": "tweet_image"}, None),
        ("mediaUpload", {"media": ""}, "required 'media_category' is missing"),
        ("mediaUpload", {"media": "", "media_category": "x"}, "is not one of"),
        (
            "mediaUpload",
            {"media": "", "media_category": "tweet_image", "shared": True},
            "'shared' is not a property",
        ),
        (
            "mediaUpload",
            {"media": "", "media_category": "tweet_image", "additional_owners": ["1"]},
            "is not of type string",
        ),
        ("initializeMediaUpload", {"total_bytes": True}, "is not of type integer"),
        ("initializeMediaUpload", {"total_bytes": 2**34 + 1}, "> 17179869184"),
        (
            "initializeMediaUpload",
            {"additional_owners": ["12345678901234567890"]},
            "does not match",
        ),
        ("appendMediaUpload", {"media": "", "segment_index": 1000}, "> 999"),
        ("appendMediaUpload", {"media": "", "segment_index": -1}, "< 0"),
        (
            "createMediaMetadata",
            {"id": MEDIA_ID, "metadata": {"alt_text": {}}},
            "required 'text'",
        ),
        (
            "createMediaMetadata",
            {"id": MEDIA_ID, "metadata": {"alt_text": {"text": "a" * 1001}}},
            "longer than 1000",
        ),
        ("createMediaMetadata", {"id": 5}, "is not of type string"),
    ],
)
def test_the_validator_catches_what_it_should(
    operation: str, value: dict[str, Any], problem: str | None
) -> None:
    """
    The checks below mean something: the validator finds each kind of mistake.
    """
    found = violations(value, OPERATIONS[operation]["body"])
    if problem is None:
        assert found == []
    else:
        assert any(problem in line for line in found), found


def test_multipart_checks_catch_repeated_and_untyped_fields() -> None:
    """
    An array sent as repeated fields (the one-shot shape before 2.167) and a non-integer index are caught.
    """
    files = [("media", ("m", b"\x89PNG"))]
    one_shot = httpx.Request(
        "POST",
        f"{API}/2/media/upload",
        data={"media_category": "tweet_image", "additional_owners": ["1", "2"]},
        files=files,
    )
    one_shot.read()
    assert any("sent 2 times" in line for line in check_request(one_shot))
    append = httpx.Request(
        "POST",
        f"{API}/2/media/upload/{MEDIA_ID}/append",
        data={"segment_index": "first"},
        files=files,
    )
    append.read()
    assert any("not of type integer" in line for line in check_request(append))
    status = httpx.Request(
        "GET", f"{API}/2/media/upload", params={"command": "STATUS", "id": MEDIA_ID}
    )
    assert check_request(status) == [
        "getMediaUploadStatus: parameter 'id' is not in the spec",
        "getMediaUploadStatus: required parameter 'media_id' is missing",
    ]
    legacy = httpx.Request(
        "POST", f"{API}/2/media/upload/initialize", params={"command": "INIT"}
    )
    assert check_request(legacy)
    assert check_request(httpx.Request("POST", f"{API}/2/media/metadata/create"))


@pytest.mark.anyio
async def test_one_shot_upload_matches_the_spec(recorder: Recorder) -> None:
    """
    POST /2/media/upload: multipart media, a category, owners as one comma-separated string.
    """
    data = png()
    async with _client() as client:
        await client.upload(data, additional_owners=[5, "6"])
        await client.upload(data, media_category="dm_image")

    first, second = recorder.of("mediaUpload")
    for request in (first, second):
        assert check_request(request) == []
        assert request.headers["content-type"].startswith(
            "multipart/form-data; boundary="
        )
    assert multipart_pairs(first) == [
        ("media_category", b"tweet_image"),
        ("additional_owners", b"5,6"),
        ("media", data),
    ]
    assert multipart_pairs(second) == [("media_category", b"dm_image"), ("media", data)]
    assert "command" not in first.url.params


@pytest.mark.anyio
async def test_chunked_upload_matches_the_spec(recorder: Recorder) -> None:
    """
    initialize (JSON), append (multipart, per segment), finalize (no body), STATUS (query).
    """
    data = mp4(9 * 1024 * 1024)
    async with _client() as client:
        await client.upload(data, additional_owners=["9", 10])

    assert [_operation_of(r) for r in recorder.requests] == [
        "initializeMediaUpload",
        "appendMediaUpload",
        "appendMediaUpload",
        "appendMediaUpload",
        "finalizeMediaUpload",
        "getMediaUploadStatus",
    ]
    for request in recorder.requests:
        assert check_request(request) == [], request
    [init] = recorder.of("initializeMediaUpload")
    assert init.headers["content-type"] == "application/json"
    assert json.loads(init.content) == {
        "total_bytes": len(data),
        "media_type": "video/mp4",
        "media_category": "tweet_video",
        "additional_owners": ["9", "10"],
    }
    appends = recorder.of("appendMediaUpload")
    assert [dict(multipart_pairs(r))["segment_index"] for r in appends] == [
        b"0",
        b"1",
        b"2",
    ]
    assert all(r.url.path == f"/2/media/upload/{MEDIA_ID}/append" for r in appends)
    assert all(
        {name for name, _ in multipart_pairs(r)} == {"segment_index", "media"}
        for r in appends
    )
    [finalize] = recorder.of("finalizeMediaUpload")
    assert finalize.content == b""
    [status] = recorder.of("getMediaUploadStatus")
    assert dict(status.url.params) == {"command": "STATUS", "media_id": MEDIA_ID}


@pytest.mark.anyio
async def test_metadata_matches_the_spec(recorder: Recorder) -> None:
    """
    POST /2/media/metadata: JSON id and metadata.alt_text.text, after an upload or on its own.
    """
    async with _client() as client:
        await client.upload(gif(), alt_text="A dog")
        await client.set_alt_text(int(MEDIA_ID), "é" * 1000)

    requests = recorder.of("createMediaMetadata")
    assert len(requests) == 2
    for request in requests:
        assert check_request(request) == []
        assert request.headers["content-type"] == "application/json"
    assert [json.loads(r.content) for r in requests] == [
        {"id": MEDIA_ID, "metadata": {"alt_text": {"text": "A dog"}}},
        {"id": MEDIA_ID, "metadata": {"alt_text": {"text": "é" * 1000}}},
    ]


@pytest.mark.anyio
async def test_shared_goes_to_initialize_as_a_boolean(recorder: Recorder) -> None:
    """
    shared=True (DM media reused across conversations) is initialize's boolean ``shared``.
    """
    options: dict[str, Any] = {"shared": True, "media_category": "dm_video"}
    async with _client() as client:
        await client.upload(mp4(1000), **options)
    [init] = recorder.of("initializeMediaUpload")
    assert check_request(init) == []
    assert json.loads(init.content)["shared"] is True


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    owners=st.lists(USER_IDS, max_size=100),
    chunked=st.booleans(),
    backend=st.sampled_from(["asyncio", "trio"]),
)
def test_any_valid_owners_make_a_spec_valid_body(
    owners: list[int], chunked: bool, backend: str
) -> None:
    """
    Up to 100 user ids, one-shot or chunked: the bodies always fit the spec.
    """
    recorder = Recorder()

    async def upload() -> None:
        async with _client() as client:
            await client.upload(png(), additional_owners=owners, chunked=chunked)

    with respx.mock(assert_all_called=False) as router:
        router.route(host="api.x.com").mock(side_effect=recorder)
        anyio.run(upload, backend=backend)
    for request in recorder.requests:
        assert check_request(request) == []
    sent = recorder.requests[0]
    if chunked:
        assert json.loads(sent.content).get("additional_owners", []) == [
            str(o) for o in owners
        ]
    else:
        expected = ",".join(map(str, owners)).encode()
        assert dict(multipart_pairs(sent)).get("additional_owners", b"") == expected
