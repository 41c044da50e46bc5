"""The capture page and operator console, served by the service itself (see :mod:`tessera.web.mount`)."""
