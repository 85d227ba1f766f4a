"""The development Hub: the Hub HTTP API over a local catalog, the demo catalog builder and
synthetic listings. For tests, benches and the demo; the product never imports it."""
