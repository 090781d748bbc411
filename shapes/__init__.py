"""The shapes world: arvid's evaluation wing. A synthetic video world with ground truth (`world`),
its detector, prompt matching, clip sources and the shapes report. General code never imports it."""
