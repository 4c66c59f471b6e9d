"""Post-synth tools: they read the cloud assembly that ``make synth`` wrote (``cdk.out``).

Not part of the CDK package: nothing here imports ``aws_cdk``, and nothing in
``openmarket_cdk`` imports ``tools``. The tools may read the stage configs
(``openmarket_cdk.config``), which are plain typed values.
"""
