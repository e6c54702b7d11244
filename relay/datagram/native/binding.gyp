{
  "targets": [
    {
      "target_name": "anyturn_datagram",
      "sources": ["datagram-addon.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
