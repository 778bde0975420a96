"""A workaround for the stall of ``jupyter nbconvert --execute`` and papermill on slider panels.

The stall (jupyter/nbclient#312, jupyter/nbconvert#2003; ``docs/headless-execution.md``):
nbclient waits for a cell's ``execute_reply`` with an asyncio poll on the shell socket. While it
waits, it answers the ipywidgets ``Output`` widgets of the page on the same socket, and
jupyter_client's ``Session.send`` sends through a blocking shadow of the asyncio socket. That send
consumes the socket's edge-triggered "readable" signal without telling pyzmq's asyncio layer, so
when the reply arrived just before, the poll is never woken: the cell waits out its whole timeout
(forever with none).

``install()`` wraps ``AsyncZMQSocketChannel.send`` so that every send is followed by a read of
the socket's events through the asyncio socket, which makes pyzmq look again and wake the poll.
The course's own runner (``lowdim_course.headless``, ``lowdim-course execute``) does not need it:
it uses the blocking client and never sends while it waits.

With nbconvert, put these two lines in a file ``wakeup.py``::

    import lowdim_course.jupyter_wakeup
    lowdim_course.jupyter_wakeup.install()

and run ``jupyter nbconvert --execute --to notebook --config wakeup.py LESSON.ipynb``. With
papermill (same nbclient code; not tried here), call ``install()`` before
``papermill.execute_notebook``.
"""

from __future__ import annotations

_MARK = "_lowdim_course_wakeup"


def install() -> bool:
    """Patch jupyter_client's asynchronous channels (once); True if it was patched just now."""
    import zmq
    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.send
    if getattr(original, _MARK, False):
        return False

    def send(self, msg) -> None:
        original(self, msg)
        socket = self.socket
        if socket is not None and not socket.closed:
            socket.get(zmq.EVENTS)  # through the asyncio socket: a pending poll is rechecked

    setattr(send, _MARK, True)
    send.__doc__ = original.__doc__
    AsyncZMQSocketChannel.send = send
    return True
