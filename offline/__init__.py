"""The offline preview tool: ``python -m offline preview`` runs a Pulumi program and its policy pack with no
cloud and no Pulumi CLI.

- ``program``       loads a project and stack as the CLI does and runs the program under the mock runtime;
- ``mocks``         the mock runtime: engine-faithful URNs, parents and dependencies, provider-like values;
- ``policy_driver`` starts the policy pack as the CLI does and speaks the analyzer protocol to it;
- ``feeder``        carries a preview's Analyze calls to the pack from a process of its own (off the runner's GIL);
- ``config_schema`` checks the policy settings against their schemas as the engine does (during a preview, in a
                    process of its own); ``own_process`` starts these helper processes, below the program's CPU
                    priority;
- ``preview``       runs both together, as ``pulumi preview --policy-pack`` does;
- ``render``        prints the result as the CLI does, or as one JSON object;
- ``guard``         ends a run that hangs (``--timeout``) or is signalled, naming what hung, the pack with it;
- ``yaml_file``     reads the project, stack and pack YAML files, a broken one as one line with file:line.
"""
