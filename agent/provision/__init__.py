"""Provisioning a gate (``sharaka-gate provision``, docs/provisioning.md): identity made on the device,
enrolment with a one-time token, pinning, config, the technician's checklist, and decommissioning.

Modules: ``token`` (the token and its MACs), ``enrolment`` (the messages, pure), ``broker`` (the short MQTT
conversations), ``x509`` (TLS key and request with openssl), ``files`` (where everything lives), ``flow``
(the steps), ``checklist`` (what passed and what to fix, in a technician's words), ``wipe``
(decommissioning).
"""
