"""Events leaving a layer. For now only the in-process bus (:mod:`switch.events.bus`)."""
