from virtumancer_server.app import ServerConfig, create_app

app = create_app(ServerConfig.from_env())
