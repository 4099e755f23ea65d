"""Pieces that text copied into a playbook may hold: Jinja delimiters, raw-block keywords,
quotes, escapes, line breaks. Joined by hypothesis, they make text that must stay literal."""

TEMPLATE_PIECES = [
    "{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "%", "#", "-", "+",
    " raw ", " endraw ", "{% raw %}", "{% endraw %}", "{{ '{' }}",
    "'", '"', "\\", "\n", " ", "a", "$", "$$", "${X}",
]  # fmt: skip
