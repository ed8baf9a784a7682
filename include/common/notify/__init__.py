"""Notifications to the operators when a batch ends, and alerts with their recovery: a kernel that
knows no job.

``settings`` (the Variable ``backoffice_notifications``, validated) · ``notice`` (a
:class:`Notice` built from neutral fields, rendered once for every channel: subject, text, HTML,
webhook JSON) · ``channels`` (email through the SMTP provider's ``SmtpNotifier``, webhook through
the HTTP provider's ``HttpNotifier``) · ``store`` (``batch_notifications``: what was sent, keyed by
(batch_id, status, channel), claimed before sending so two sightings never both send;
``alert_episodes``: counting bad checks) · ``send`` (:func:`announce`, which never raises,
:func:`sweep_batches` for the 5-minute retry, :func:`observe` for episodes).

A job builds its :class:`Notice` (counts, failed items) and calls :func:`announce` right after its
one finalize; the 5-minute reconcile calls :func:`sweep_batches` for recently finished batches
whose notice is still unsent on some channel.
"""
