"""Signed A/B updates of the whole gate (OS and agent) with RAUC (docs/update.md, RELIABILITY 54).

``bootstate``: the boot-selection state RAUC's custom bootloader backend writes and the bootloader reads
(trial boot once, commit, fall back). ``bundle``: versions and the downgrade guard (RAUC's pre-install
handler). ``fetch``: a bundle downloaded from a URL with resume, bounded by the size the centre signed.
``rauc``: the calls into RAUC (install, status, mark good/bad). ``health``: commit or roll back a trial
boot. The bundle's signature is RAUC's own check (X.509 CMS, the update CA in /etc/rauc/keyring.pem).
"""
