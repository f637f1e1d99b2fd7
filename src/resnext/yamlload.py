"""The YAML loader of every config file, --set value and resolved config (resnext.config).

Python 3.7 (the container loads configs too), PyYAML's pure-Python SafeLoader underneath.
"""

import re

import yaml


class YamlRefused(yaml.YAMLError):
    """A YAML text the config loader will not take (a duplicate key, too deep, too many nodes
    through aliases); str() says what and where, on one line."""


class Loader(yaml.SafeLoader):
    """SafeLoader for configs: YAML 1.1 reads `1e-6` (no dot) as a string; configs mean a number,
    as YAML 1.2 does. It refuses, with YamlRefused: a key given twice in one mapping (YAML says
    keys are unique; PyYAML keeps the last one silently), nesting deeper than MAX_DEPTH (PyYAML
    composes recursively: a deep text would end in RecursionError), and a document that expands
    to more than MAX_NODES nodes once aliases are followed (an alias bomb: a few lines that would
    be 10^9 values to validate and hash). Both bounds are checked while composing, so time and
    memory stay within them.
    """

    MAX_DEPTH = 32
    MAX_NODES = 20000  # a full config is ~300 nodes

    def __init__(self, stream):
        super().__init__(stream)
        self._depth, self._sizes = 0, {}

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > self.MAX_DEPTH:
                raise YamlRefused(
                    "nested more than %d levels deep (line %d)"
                    % (self.MAX_DEPTH, self.peek_event().start_mark.line + 1)
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if self._size(node) > self.MAX_NODES:
            raise YamlRefused(
                "more than %d values once its aliases (*name) are expanded (line "
                "%d): an alias bomb?" % (self.MAX_NODES, node.start_mark.line + 1)
            )
        return node

    def _size(self, node):
        """Nodes under `node`, aliases counted in full (memoised: each node is sized once)."""
        known = self._sizes.get(id(node))
        if known is None:
            if isinstance(node, yaml.MappingNode):
                known = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                known = 1 + sum(self._size(v) for v in node.value)
            else:
                known = 1
            self._sizes[id(node)] = known
        return known

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` overrides by design
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:
                    continue  # an unhashable key: the constructor itself refuses it
                if first is not None:
                    raise YamlRefused(
                        "key %r is given twice (lines %d and %d); keep one" % (key, first, line)
                    )
        return super().construct_mapping(node, deep=deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"""),
    list("-+0123456789."),
)
