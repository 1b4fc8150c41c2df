"""The etcd engine: group communication for members in separate processes and hosts."""
