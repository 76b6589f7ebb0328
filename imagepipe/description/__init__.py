"""Words about images: what a person would search by, from local models or a remote API."""
