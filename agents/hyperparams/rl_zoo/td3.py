"""rl-zoo3 hyper-parameters of TD3 on the flat AutoQ ids (see ``agents.hyperparams.rl_zoo``)::

    python -m rl_zoo3.train --algo td3 --env AutoQ-ResNet-LayerWise-v0 --gym-packages autoq_env \\
        -conf agents/hyperparams/rl_zoo/td3.py
"""

from agents.hyperparams.rl_zoo import zoo_hyperparams

hyperparams = zoo_hyperparams("td3")
