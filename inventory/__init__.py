"""Hosts, groups and their variables (Ansible-compatible), and how to reach each host."""
