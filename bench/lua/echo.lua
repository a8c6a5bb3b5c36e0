-- POST a 16 KiB body to /echo
wrk.method = "POST"
wrk.body = string.rep("a", 16384)
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.path = "/echo"
