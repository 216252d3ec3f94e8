"""IVR flows: a declarative format (schema), its validator, a pure interpreter and versions.

- :mod:`.schema` the flow format, one model per node type; :mod:`.hours` business hours;
  :mod:`.values` variables, templates and the JSON-path subset.
- :mod:`.validate` plain data -> :class:`~.schema.Flow`, or every problem with its node path.
- :mod:`.engine` :class:`~.engine.IvrSession`, the interpreter (events in, commands out,
  no I/O, no clock); :mod:`.commands` its vocabulary.
- :mod:`.versions` drafts and published versions; :mod:`.demo` the demo tenant's flow.

The runner (I/O: media, SIP, HTTP) lives beside these and is the only part that does I/O.
docs/ivr.md is the reference.
"""

from .engine import CallFacts, IvrError, IvrSession
from .schema import Flow
from .validate import FlowError, flow_problems, load_flow
from .versions import FlowStore, UnknownFlow

__all__ = ["CallFacts", "Flow", "FlowError", "FlowStore", "IvrError", "IvrSession",
           "UnknownFlow", "flow_problems", "load_flow"]
