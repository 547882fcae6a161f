// Left out of gigachat-adapter's build: /docs/index.html loads swagger-ui-bundle.js (see .cargo/config.toml).
