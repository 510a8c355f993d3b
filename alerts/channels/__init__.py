"""Alert channels beside mail: Slack, Microsoft Teams and a signed JSON webhook.

One contract for all of them (healthchecks' transports): a channel turns a message
(alerts.channels.message) into a body and headers (alerts.channels.payloads), and one HTTP
poster (alerts.channels.http) hands it over and answers an Outcome: delivered, or an error
class marked permanent (a 4xx, a refused target, a bad certificate: trying again changes
nothing) or transient (5xx, 429, a timeout, a dropped connection: alerts.deliveries tries
again later with backoff). Who hears what, and when, is decided by the same code as mail
(alerts.audience, alerts.services.fan_out).
"""
