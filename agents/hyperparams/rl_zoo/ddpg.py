"""rl-zoo3 hyper-parameters of DDPG on the flat AutoQ ids (see ``agents.hyperparams.rl_zoo``)::

    python -m rl_zoo3.train --algo ddpg --env AutoQ-ResNet-LayerWise-v0 --gym-packages autoq_env \\
        -conf agents/hyperparams/rl_zoo/ddpg.py
"""

from agents.hyperparams.rl_zoo import zoo_hyperparams

hyperparams = zoo_hyperparams("ddpg")
