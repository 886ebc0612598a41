"""Celery's filesystem transport (the embedded default broker), publishing each message atomically.

kombu's filesystem transport creates a message's file under its final name, then writes it: a worker
listing the queue folder in between moves the empty file away and dies on it (JSONDecodeError, an
"Unrecoverable error" that stops the worker; celery/kombu#1551). On a busy machine, with the beat
fanning out a poll cycle as several tasks, that window is hit. Here a message is written under a
name the consumer never picks (a leading dot, no ``.msg`` ending) and renamed into place, which is
atomic on one filesystem, so a consumer sees a whole message or none. Everything else is kombu's.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written aside, then renamed to the name the consumer reads."""
        filename = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, filename)
        partial = os.path.join(self.data_folder_out, f".{filename}.part")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            try:
                os.unlink(partial)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {filename!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
