"""What the built-in strategies are called and which options they take (no TensorFlow)."""

from zoo.api import OptionSpec, StrategySpec

HEAD_OPTIONS = (
    OptionSpec("units", "int", 0, "hidden units in the new head before the classifier (0: a linear classifier)",
               min=0),
    OptionSpec("dropout", "float", 0.2, "dropout rate before the classifier", min=0.0, max=0.9),
)
HEAD_LR = OptionSpec(
    "head_lr", "float", None,
    "learning rate of the head on cached (standardised) features (default: 3 x --lr: at --lr itself, 5 epochs "
    "ended 3-5 points short of a logistic regression on the same digits-m features)", min=0.0,
)
UNFREEZE = OptionSpec(
    "unfreeze", "str", "1",
    "what to train in the backbone: a number of stages from the end, stage names (comma separated), or 'all'",
)

STRATEGIES = [
    StrategySpec(
        name="feature-extraction",
        trainer="zoo_strategies.feature_extraction:train",
        options=HEAD_OPTIONS + (
            HEAD_LR,
            OptionSpec("feature_cache", "choice", "auto",
                       "where backbone features are kept between epochs (auto: memory, or disk when large)",
                       choices=("auto", "memory", "disk", "none")),
        ),
        description="frozen backbone, new head trained on features computed once",
    ),
    StrategySpec(
        name="fine-tuning",
        trainer="zoo_strategies.fine_tuning:train",
        check="zoo_strategies.checks:check_unfreeze",
        options=HEAD_OPTIONS + (
            HEAD_LR,
            UNFREEZE,
            OptionSpec("fine_tune_lr", "float", None,
                       "learning rate once the backbone is unfrozen (default: lr / 10, with or without a warm-up)"),
            OptionSpec("warmup_epochs", "int", None, "epochs of head-only training first (default: half of --epochs)",
                       min=0),
        ),
        description="train the head, then unfreeze the last stages at a lower learning rate (BatchNorm stays frozen)",
    ),
    StrategySpec(
        name="domain-adaptation",
        trainer="zoo_strategies.domain_adaptation:train",
        check="zoo_strategies.checks:check_unfreeze",
        options=HEAD_OPTIONS + (
            OptionSpec("method", "choice", "mcc",
                       "dann (gradient reversal), cdan (class-conditioned DANN, entropy-weighted), "
                       "mcc (minimum class confusion), coral (Deep CORAL) or mmd",
                       choices=("dann", "cdan", "mcc", "coral", "mmd")),
            OptionSpec("da_weight", "float", None,
                       "weight of the domain loss (DANN, CDAN: the final lambda); default per method: "
                       "dann 1, cdan 1, mcc 3, coral 300, mmd 10", min=0.0),
            OptionSpec("batchnorm", "choice", "domain",
                       "BatchNorm while adapting: domain (each domain's own batch statistics, then the target's), "
                       "mixed (statistics of source and target batches together) or frozen",
                       choices=("domain", "mixed", "frozen")),
            OptionSpec("unfreeze", "str", "all", UNFREEZE.help),
        ),
        needs_target=True,
        description="labelled source + unlabelled target: MCC (default), CDAN, DANN, Deep CORAL or MMD; SGD with "
                    "momentum from --lr (0.01 in the DANN paper), annealed; per-domain BatchNorm",
    ),
]
