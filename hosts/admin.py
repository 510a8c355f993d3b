from __future__ import annotations

from django.contrib import admin

from hosts.models import Host


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "endpoint", "enabled", "scan_interval", "next_scan_at", "owner_email"]
    list_filter = ["enabled"]
    search_fields = ["name", "endpoint", "owner_email"]
    # Ciphertext of private keys: never shown, not even to staff. Keys are set through the
    # host form, which validates and encrypts them.
    exclude = ["tls_client_key_enc", "ssh_private_key_enc", "ssh_access_key_enc"]
    readonly_fields = ["created_at", "updated_at"]
