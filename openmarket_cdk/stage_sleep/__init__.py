"""Stage sleep: a stage's paid compute sleeps outside working hours, through the owners' APIs.

One feature, one package:

- ``config.py``: the stage's ``sleep`` section and its validator;
- ``runtime/``: the two Lambda handlers and their one event contract (``contract.py``): the
  orchestrator (outside the VPC: CloudFormation, EKS, EC2, RDS, Application Auto Scaling,
  ELB, CloudWatch, Scheduler) and the cluster function (inside the VPC: the Kubernetes API
  only, as its own RBAC-limited user);
- ``plan.py``: the plan of one stage (what sleeps, how it comes back), built from its config:
  the schedules' input, ``make wake``'s, and what ``make cost`` reads back from the template;
- ``construct.py``: the functions, their roles, the schedules and the Kubernetes objects.

Importing the package imports no CDK: the config and the runtime stay plain Python.
"""
