"""The local Cosmos DB emulator answers the real ``azure.cosmos.aio`` SDK like Cosmos DB does.

One emulator for the module; every test works in its own partition(s) so tests stay independent.
Also checks that Azurite starts and answers on its ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.cosmos import PartitionKey, exceptions
from azure.cosmos.aio import ContainerProxy, CosmosClient

from local.azurite import connection_string, start_azurite
from local.cosmos import EMULATOR_KEY, client_kwargs, endpoint, kinds, start_cosmos, stats
from local.process import Child


@pytest.fixture(scope="module")
def emulator() -> Iterator[Child]:
    child = start_cosmos()
    try:
        yield child
    finally:
        child.stop()


@pytest.fixture(scope="module")
async def client(emulator: Child) -> AsyncIterator[CosmosClient]:
    async with CosmosClient(
        endpoint(emulator.port), credential=EMULATOR_KEY, **client_kwargs()
    ) as cosmos:
        yield cosmos


@pytest.fixture(scope="module")
async def container(client: CosmosClient) -> ContainerProxy:
    database = await client.create_database_if_not_exists("itest")
    return await database.create_container_if_not_exists(
        "items", partition_key=PartitionKey(path="/pk")
    )


def new_key() -> str:
    return uuid.uuid4().hex


async def collect(container: ContainerProxy, query: str, **kwargs: Any) -> list[Any]:
    return [item async for item in container.query_items(query, **kwargs)]


async def test_database_and_container_exist(client: CosmosClient, container: ContainerProxy):
    database = client.get_database_client("itest")
    assert (await database.read())["id"] == "itest"
    properties = await container.read()
    assert properties["partitionKey"]["paths"] == ["/pk"]
    # create_*_if_not_exists again finds the existing ones
    again = await (
        await client.create_database_if_not_exists("itest")
    ).create_container_if_not_exists("items", partition_key=PartitionKey(path="/pk"))
    assert again.id == "items"


async def test_create_and_read_item(container: ContainerProxy):
    pk = new_key()
    created = await container.create_item({"id": "a", "pk": pk, "amount": 12.5, "tags": ["x"]})
    assert created["_etag"]
    read = await container.read_item("a", partition_key=pk)
    assert read["amount"] == 12.5
    assert read["tags"] == ["x"]
    assert read["_etag"] == created["_etag"]


async def test_read_missing_item_is_404(container: ContainerProxy):
    pk = new_key()
    with pytest.raises(exceptions.CosmosResourceNotFoundError) as missing:
        await container.read_item("nope", partition_key=pk)
    assert missing.value.status_code == 404
    # an existing id under another partition key is missing too
    await container.create_item({"id": "here", "pk": pk})
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        await container.read_item("here", partition_key=new_key())


async def test_create_duplicate_is_409(container: ContainerProxy):
    pk = new_key()
    await container.create_item({"id": "dup", "pk": pk})
    with pytest.raises(exceptions.CosmosResourceExistsError) as conflict:
        await container.create_item({"id": "dup", "pk": pk})
    assert conflict.value.status_code == 409
    # the same id in another partition is another document
    await container.create_item({"id": "dup", "pk": new_key()})


async def test_replace_with_stale_etag_is_412(container: ContainerProxy):
    pk = new_key()
    first = await container.create_item({"id": "doc", "pk": pk, "version": 1})
    second = await container.replace_item(
        "doc",
        {**first, "version": 2},
        etag=first["_etag"],
        match_condition=MatchConditions.IfNotModified,
    )
    assert second["_etag"] != first["_etag"]
    with pytest.raises(exceptions.CosmosAccessConditionFailedError) as stale:
        await container.replace_item(
            "doc",
            {**first, "version": 3},
            etag=first["_etag"],
            match_condition=MatchConditions.IfNotModified,
        )
    assert stale.value.status_code == 412
    assert (await container.read_item("doc", partition_key=pk))["version"] == 2


async def test_upsert_patch_delete(container: ContainerProxy):
    pk = new_key()
    await container.upsert_item({"id": "u", "pk": pk, "n": 1})
    await container.upsert_item({"id": "u", "pk": pk, "n": 2})
    patched = await container.patch_item(
        "u",
        partition_key=pk,
        patch_operations=[
            {"op": "incr", "path": "/n", "value": 3},
            {"op": "add", "path": "/note", "value": "hi"},
        ],
    )
    assert (patched["n"], patched["note"]) == (5, "hi")
    await container.delete_item("u", partition_key=pk)
    with pytest.raises(exceptions.CosmosResourceNotFoundError) as missing:
        await container.delete_item("u", partition_key=pk)
    assert missing.value.status_code == 404


async def test_single_partition_query(container: ContainerProxy):
    mine, other = new_key(), new_key()
    for i in range(5):
        await container.create_item({"id": f"m{i}", "pk": mine, "n": i, "kind": "q1"})
    for i in range(3):
        await container.create_item({"id": f"o{i}", "pk": other, "n": 10 + i, "kind": "q1"})

    docs = await collect(container, "SELECT * FROM c", partition_key=mine)
    assert sorted(d["id"] for d in docs) == [f"m{i}" for i in range(5)]
    assert {d["pk"] for d in docs} == {mine}

    ordered = await collect(container, "SELECT * FROM c ORDER BY c.n DESC", partition_key=mine)
    assert [d["n"] for d in ordered] == [4, 3, 2, 1, 0]
    top = await collect(container, "SELECT TOP 2 * FROM c ORDER BY c.n", partition_key=other)
    assert [d["n"] for d in top] == [10, 11]
    assert await collect(container, "SELECT VALUE COUNT(1) FROM c", partition_key=mine) == [5]
    assert await collect(
        container, "SELECT VALUE COUNT(1) FROM c WHERE c.n >= 2", partition_key=mine
    ) == [3]

    pages = container.query_items(
        "SELECT * FROM c ORDER BY c.n", partition_key=mine, max_item_count=2
    ).by_page()
    sizes = [len([d async for d in page]) async for page in pages]
    assert sizes == [2, 2, 1]


async def test_a_partitions_queries_give_every_row_once_in_order(container: ContainerProxy):
    """The launcher rewrites how a query's FROM gathers its rows (one pass instead of a copy
    per row): through Microsoft's SDK, a keyset page, a projection, a filter on a field some
    documents lack and a JOIN over 600 documents answer exactly what the documents say."""
    pk = new_key()
    docs = [
        {"id": f"d{i:04d}", "pk": pk, "n": i, "status": "PAID" if i % 3 == 0 else "VALID"}
        | ({"lines": [i, i + 1]} if i % 100 == 0 else {})
        | ({"due": f"2030-01-{1 + i % 28:02d}"} if i % 2 else {})
        for i in range(600)
    ]
    todo = iter(docs)

    async def load() -> None:
        for doc in todo:
            await container.create_item(doc)

    await asyncio.gather(*(load() for _ in range(16)))
    paid = [d for d in docs if d["status"] == "PAID"]
    page = await collect(
        container,
        "SELECT TOP 20 c.id, c.n FROM c WHERE c.status = @s AND c.id > @after ORDER BY c.id",
        parameters=[{"name": "@s", "value": "PAID"}, {"name": "@after", "value": "d0300"}],
        partition_key=pk,
    )
    assert page == [{"id": d["id"], "n": d["n"]} for d in paid if d["id"] > "d0300"][:20]
    everything = await collect(container, "SELECT VALUE c.n FROM c", partition_key=pk)
    assert sorted(everything) == list(range(600))
    dated = await collect(
        container, "SELECT VALUE c.n FROM c WHERE IS_DEFINED(c.due) ORDER BY c.n", partition_key=pk
    )
    assert dated == [d["n"] for d in docs if "due" in d]
    joined = await collect(
        container, "SELECT c.id, l FROM c JOIN l IN c.lines ORDER BY c.id", partition_key=pk
    )
    assert sorted((r["id"], r["l"]) for r in joined) == sorted(
        (d["id"], line) for d in docs for line in d.get("lines", [])
    )


async def test_cross_partition_query(container: ContainerProxy):
    run = new_key()
    keys = [new_key() for _ in range(3)]
    for i, pk in enumerate(keys):
        for j in range(2):
            await container.create_item({"id": f"x{j}", "pk": pk, "run": run, "n": i * 2 + j})
    docs = await collect(container, f"SELECT * FROM c WHERE c.run = '{run}'")
    assert {d["pk"] for d in docs} == set(keys)
    assert len(docs) == 6
    count = await collect(container, f"SELECT VALUE COUNT(1) FROM c WHERE c.run = '{run}'")
    assert count == [6]
    ordered = await collect(container, f"SELECT * FROM c WHERE c.run = '{run}' ORDER BY c.n")
    assert [d["n"] for d in ordered] == list(range(6))
    top = await collect(container, f"SELECT TOP 1 * FROM c WHERE c.run = '{run}' ORDER BY c.n DESC")
    assert [d["n"] for d in top] == [5]


async def test_parameterized_query(container: ContainerProxy):
    pk = new_key()
    await container.create_item({"id": "p1", "pk": pk, "status": "paid", "lines": [1, 2, 3]})
    await container.create_item({"id": "p2", "pk": pk, "status": "open", "lines": [1]})
    await container.create_item(
        {"id": "p3", "pk": pk, "status": "paid", "lines": [], "refund": {"at": "now"}}
    )
    paid = await collect(
        container,
        "SELECT * FROM c WHERE c.pk = @pk AND c.status = @status",
        parameters=[{"name": "@pk", "value": pk}, {"name": "@status", "value": "paid"}],
    )
    assert sorted(d["id"] for d in paid) == ["p1", "p3"]
    long = await collect(
        container,
        "SELECT VALUE c.id FROM c WHERE ARRAY_LENGTH(c.lines) > @n",
        parameters=[{"name": "@n", "value": 1}],
        partition_key=pk,
    )
    assert long == ["p1"]
    refunded = await collect(
        container, "SELECT VALUE c.id FROM c WHERE IS_DEFINED(c.refund)", partition_key=pk
    )
    assert refunded == ["p3"]


async def test_batch(container: ContainerProxy):
    pk = new_key()
    await container.create_item({"id": "old", "pk": pk, "n": 0})
    results = await container.execute_item_batch(
        [
            ("create", ({"id": "b1", "pk": pk, "n": 1},)),
            ("upsert", ({"id": "b2", "pk": pk, "n": 2},)),
            ("read", ("old",)),
            ("replace", ("b1", {"id": "b1", "pk": pk, "n": 10})),
            ("patch", ("b2", [{"op": "incr", "path": "/n", "value": 5}])),
            ("delete", ("old",)),
        ],
        partition_key=pk,
    )
    assert [r["statusCode"] for r in results] == [201, 201, 200, 200, 200, 204]
    docs = await collect(container, "SELECT * FROM c ORDER BY c.id", partition_key=pk)
    assert [(d["id"], d["n"]) for d in docs] == [("b1", 10), ("b2", 7)]

    # the batch is atomic: one failure undoes the operations before it
    with pytest.raises(exceptions.CosmosBatchOperationError) as failed:
        await container.execute_item_batch(
            [("create", ({"id": "b3", "pk": pk},)), ("create", ({"id": "b1", "pk": pk},))],
            partition_key=pk,
        )
    assert failed.value.error_index == 1
    assert failed.value.status_code == 409
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        await container.read_item("b3", partition_key=pk)

    # replaced, upserted and deleted documents come back as they were, and nothing leaks into
    # the next batch
    with pytest.raises(exceptions.CosmosBatchOperationError) as failed:
        await container.execute_item_batch(
            [
                ("upsert", ({"id": "b1", "pk": pk, "n": 99},)),
                ("replace", ("b2", {"id": "b2", "pk": pk, "n": 98})),
                ("delete", ("b2",)),
                ("replace", ("b1", {"id": "b1", "pk": pk}), {"if_match_etag": "stale"}),
            ],
            partition_key=pk,
        )
    assert failed.value.error_index == 3
    docs = await collect(container, "SELECT * FROM c ORDER BY c.id", partition_key=pk)
    assert [(d["id"], d["n"]) for d in docs] == [("b1", 10), ("b2", 7)]
    await container.execute_item_batch(
        [("upsert", ({"id": "b4", "pk": pk, "n": 4},))], partition_key=pk
    )
    docs = await collect(container, "SELECT * FROM c ORDER BY c.id", partition_key=pk)
    assert [(d["id"], d["n"]) for d in docs] == [("b1", 10), ("b2", 7), ("b4", 4)]


async def test_keep_alive_reuses_connections(emulator: Child, container: ContainerProxy):
    pk = new_key()
    await container.create_item({"id": "k", "pk": pk})
    before = stats(emulator.port)
    operations = 200
    for i in range(operations):
        if i % 2:
            await container.read_item("k", partition_key=pk)
        else:
            await container.upsert_item({"id": "k", "pk": pk, "i": i})
    after = stats(emulator.port)
    assert after["requests"] - before["requests"] == operations  # one round trip per operation
    assert after["connections"] - before["connections"] <= 2


async def test_stats_endpoint_is_not_counted(emulator: Child):
    before = stats(emulator.port)
    for _ in range(3):
        stats(emulator.port)
    after = stats(emulator.port)
    assert after["requests"] == before["requests"]
    assert after["connections"] == before["connections"]
    assert after["accepted"] >= before["accepted"] + 4


async def test_requests_are_counted_by_operation_and_container(
    emulator: Child, container: ContainerProxy
):
    # what bench.standin prints to place a payment's round trips
    pk = new_key()
    stats(emulator.port, reset=True)
    written = await container.create_item({"id": "a", "pk": pk})
    await container.upsert_item({"id": "b", "pk": pk})
    await container.read_item("a", partition_key=pk)
    await container.replace_item("a", {"id": "a", "pk": pk, "v": 1})
    with pytest.raises(exceptions.CosmosAccessConditionFailedError):
        await container.replace_item(
            "a",
            {"id": "a", "pk": pk, "v": 2},
            etag=written["_etag"],
            match_condition=MatchConditions.IfNotModified,
        )
    await collect(container, "SELECT * FROM c", partition_key=pk)
    await container.delete_item("b", partition_key=pk)
    name = container.id
    assert kinds(emulator.port) == {
        f"create {name}": 1,
        f"upsert {name}": 1,
        f"read {name}": 1,
        f"replace {name}": 1,
        f"replace {name} 412": 1,
        f"query {name}": 1,
        f"delete {name}": 1,
    }
    stats(emulator.port, reset=True)
    assert kinds(emulator.port) == {}


async def test_pause_keeps_data_and_answers_after_resume(
    emulator: Child, container: ContainerProxy
):
    pk = new_key()
    await container.create_item({"id": "kept", "pk": pk, "value": 42})
    emulator.pause()
    try:
        pending = asyncio.ensure_future(container.read_item("kept", partition_key=pk))
        await asyncio.sleep(0.5)
        assert not pending.done()  # a stopped emulator does not answer
    finally:
        emulator.resume()
    assert (await asyncio.wait_for(pending, 30))["value"] == 42
    assert (await container.read_item("kept", partition_key=pk))["value"] == 42


def test_azurite_starts_and_answers():
    azurite = start_azurite()
    try:
        ports = (azurite.blob_port, azurite.queue_port, azurite.table_port)
        assert azurite.port == azurite.blob_port
        assert len(set(ports)) == 3
        for port in ports:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        url = f"http://127.0.0.1:{azurite.blob_port}/devstoreaccount1?comp=list"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as error:  # unauthenticated: 403, but it answered
            status = error.code
        assert 200 <= status < 500
        text = connection_string(*ports)
        assert f"BlobEndpoint=http://127.0.0.1:{azurite.blob_port}/devstoreaccount1;" in text
        assert azurite.connection_string() == text
    finally:
        azurite.stop()
    assert not azurite.alive()
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", azurite.blob_port), timeout=1),
    ):
        pytest.fail("azurite still listens after stop()")
