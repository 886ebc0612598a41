"""The embedded broker (kombu's filesystem transport as hpo_portal.broker publishes to it): a worker
never reads a message half written, which used to stop it with an "Unrecoverable error"."""

from __future__ import annotations

import builtins
from queue import Empty

import pytest
from kombu import Connection

from hpo_portal import broker


@pytest.fixture
def channels(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder),
               "processed_folder": str(tmp_path / "processed"), "store_processed": False}
    (tmp_path / "processed").mkdir()
    with Connection("filesystem://", transport="hpo_portal.broker:Transport", transport_options=options) as publisher, \
            Connection("filesystem://", transport="hpo_portal.broker:Transport", transport_options=options) as worker:
        yield folder, publisher.default_channel, worker.default_channel


def test_a_worker_reading_while_a_message_is_written_finds_none_then_the_whole_message(channels, monkeypatch):
    folder, publisher, worker = channels
    seen = []
    real_open = builtins.open

    def open_then_let_the_worker_look(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode:  # the file exists, nothing is written yet: the worker polls the queue now
            try:
                seen.append(worker._get("celery"))
            except Empty:
                seen.append(None)
        return handle

    monkeypatch.setattr(broker, "open", open_then_let_the_worker_look, raising=False)
    publisher._put("celery", {"body": "the task", "properties": {}})
    assert seen == [None]
    assert worker._get("celery") == {"body": "the task", "properties": {}}
    assert list(folder.iterdir()) == []  # nothing half-written left behind


def test_every_message_is_delivered_once_and_no_partial_file_is_left(channels):
    folder, publisher, worker = channels
    for index in range(5):
        publisher._put("celery", {"body": index})
    assert not [p for p in folder.iterdir() if not p.name.endswith(".celery.msg")]
    # Within one millisecond kombu orders by a random id, as its own transport does.
    assert sorted(worker._get("celery")["body"] for _ in range(5)) == [0, 1, 2, 3, 4]
    with pytest.raises(Empty):
        worker._get("celery")
