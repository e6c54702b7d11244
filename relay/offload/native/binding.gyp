{
  "targets": [
    {
      "target_name": "anyturn_bpf",
      "sources": ["bpf-addon.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
