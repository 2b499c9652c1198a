{
  # vtep_native: the live tunnel's syscall edge (TUN, recvmmsg/sendmmsg, uv_poll). Linux only;
  # elsewhere the target is empty and src/io/native.ts reports the addon as unavailable.
  "targets": [
    {
      "target_name": "vtep_native",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["native/vtep_native.cc"],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
          "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"],
          "cflags_cc": ["-std=c++17", "-O2", "-fno-exceptions"]
        }]
      ]
    }
  ]
}
