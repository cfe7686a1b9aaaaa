"""Built-in plugin: push and pull adapters on the Hugging Face Hub (``hf://``)."""

from zoo.api import HubSpec, hookimpl


@hookimpl
def zoo_hubs():
    return [
        HubSpec(
            name="hf",
            scheme="hf",
            client="zoo_hf.client:HfHubClient",
            description="Hugging Face Hub (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE honoured)",
        )
    ]
