"""The storage connection, read from `AzureWebJobsStorage` exactly as the Functions host reads it.

Either a connection string (locally `UseDevelopmentStorage=true` or Azurite's full string), or
identity-based settings, which is what the deployed app uses (no account key exists):
  AzureWebJobsStorage__queueServiceUri / __tableServiceUri   (or __accountName)
  AzureWebJobsStorage__credential = managedidentity
  AzureWebJobsStorage__clientId   = <the user-assigned identity's client id>
https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.settings import SettingsError

if TYPE_CHECKING:  # the SDKs are imported on first use, not by `import function_app`
    from azure.data.tables.aio import TableClient
    from azure.identity.aio import ManagedIdentityCredential
    from azure.storage.queue.aio import QueueClient

PREFIX = "AzureWebJobsStorage"
#: Storage DNS suffix per cloud, for `__accountName`.
_SUFFIX = {
    "public": "core.windows.net",
    "usgov": "core.usgovcloudapi.net",
    "china": "core.chinacloudapi.cn",
}


@dataclass(frozen=True)
class StorageConfig:
    connection_string: str | None = None
    queue_url: str | None = None
    table_url: str | None = None
    managed_identity_client_id: str | None = None

    def __repr__(self) -> str:  # a connection string may hold an account key: never print it
        how = "connection string" if self.connection_string else f"identity {self.queue_url}"
        return f"StorageConfig({how})"


def storage_config(env: Mapping[str, str], *, prefix: str = PREFIX) -> StorageConfig:
    """Read the host's storage settings; raise SettingsError naming what is missing."""
    plain = env.get(prefix, "").strip()
    if plain:
        return StorageConfig(connection_string=plain)
    setting = {
        k[len(prefix) + 2 :].lower(): v.strip()
        for k, v in env.items()
        if k.startswith(prefix + "__") and v.strip()
    }
    account = setting.get("accountname")
    suffix = _SUFFIX.get(env.get("AZURE_CLOUD", "public").lower(), _SUFFIX["public"])
    queue = setting.get("queueserviceuri") or (account and f"https://{account}.queue.{suffix}")
    table = setting.get("tableserviceuri") or (account and f"https://{account}.table.{suffix}")
    problems = []
    if not queue or not table:
        problems.append(
            f"missing {prefix} (a connection string, or identity-based {prefix}__queueServiceUri "
            f"and {prefix}__tableServiceUri, or {prefix}__accountName)"
        )
    if setting and setting.get("credential", "managedidentity").lower() != "managedidentity":
        problems.append(f"{prefix}__credential must be managedidentity")
    if problems:
        raise SettingsError(problems)
    return StorageConfig(
        queue_url=queue, table_url=table, managed_identity_client_id=setting.get("clientid")
    )


class Storage:
    """Async Queue and Table clients on one configuration, closed together."""

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self._credential: ManagedIdentityCredential | None = None
        self._clients: list[QueueClient | TableClient] = []

    def _identity(self) -> ManagedIdentityCredential:
        if self._credential is None:
            from azure.identity.aio import ManagedIdentityCredential

            self._credential = ManagedIdentityCredential(
                client_id=self.config.managed_identity_client_id
            )
        return self._credential

    def queue(self, name: str) -> QueueClient:
        """A QueueClient that speaks the Functions trigger's default encoding (base64)."""
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
        from azure.storage.queue.aio import QueueClient

        encode, decode = TextBase64EncodePolicy(), TextBase64DecodePolicy()
        if self.config.connection_string:
            client = QueueClient.from_connection_string(
                self.config.connection_string,
                name,
                message_encode_policy=encode,
                message_decode_policy=decode,
            )
        else:
            client = QueueClient(
                self.config.queue_url or "",
                name,
                credential=self._identity(),
                message_encode_policy=encode,
                message_decode_policy=decode,
            )
        self._clients.append(client)
        return client

    def table(self, name: str) -> TableClient:
        from azure.data.tables.aio import TableClient

        if self.config.connection_string:
            client = TableClient.from_connection_string(self.config.connection_string, name)
        else:
            client = TableClient(self.config.table_url or "", name, credential=self._identity())
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
        self._clients.clear()
        if self._credential is not None:
            await self._credential.close()
            self._credential = None
