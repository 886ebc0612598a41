"""The built-in algorithm catalogue: every entry well formed, image URIs right per region, lookups."""

from __future__ import annotations

import re

import pytest

from hpo_jobs.sagemaker import catalogue
from hpo_jobs.sagemaker.catalogue import ALGORITHMS, UnknownRegionError

ALGORITHM_KEYS = list(ALGORITHMS)
ALL_HYPERPARAMETERS = [
    pytest.param(algorithm, hp, id=f"{algorithm.key}:{hp.name}")
    for algorithm in ALGORITHMS.values()
    for hp in algorithm.hyperparameters
]


def test_it_has_the_algorithms_the_wizard_offers():
    expected = {"xgboost", "linear-learner", "knn", "kmeans", "factorization-machines", "image-classification",
                "object-detection", "blazingtext", "forecasting-deepar", "semantic-segmentation", "object2vec",
                "ipinsights", "lda", "ntm", "randomcutforest", "seq2seq"}
    assert set(ALGORITHMS) == expected
    assert ALGORITHM_KEYS[:3] == ["xgboost", "linear-learner", "knn"]


def test_exactly_xgboost_linear_learner_and_knn_run_locally():
    assert {a.key for a in ALGORITHMS.values() if a.runnable_locally} == {"xgboost", "linear-learner", "knn"}


def test_choices_are_key_and_display_name_in_order():
    assert catalogue.choices()[0] == ("xgboost", "XGBoost")
    assert [key for key, _ in catalogue.choices()] == ALGORITHM_KEYS


def test_get_raises_key_error_for_an_unknown_key():
    assert catalogue.get("knn").display_name == "k-NN"
    with pytest.raises(KeyError):
        catalogue.get("no-such-algorithm")


@pytest.mark.parametrize("algorithm", ALGORITHMS.values(), ids=ALGORITHM_KEYS)
def test_each_algorithm_is_well_formed(algorithm):
    assert algorithm.display_name and algorithm.description and "\n" not in algorithm.description
    assert algorithm.default_input_mode in algorithm.input_modes
    assert set(algorithm.input_modes) <= {"File", "Pipe", "FastFile"}
    names = [hp.name for hp in algorithm.hyperparameters]
    assert len(names) == len(set(names)), "hyperparameter names are unique"
    assert any(hp.tunable for hp in algorithm.hyperparameters)
    assert algorithm.default_version in algorithm.versions
    for image in algorithm.image_versions:
        assert image.repository and image.tag
        for region, account in image.registries.items():
            assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region), region
            assert re.fullmatch(r"\d{12}", account), account
    channels = [c.name for c in algorithm.channels]
    assert "train" in channels and len(channels) == len(set(channels))
    assert algorithm.channel("train").required
    for channel in algorithm.channels:
        assert channel.content_types and channel.default_content_type == channel.content_types[0]
    # The channel the default objective is computed on is one the algorithm requires.
    evaluated = algorithm.default_objective.name.split(":", 1)[0]
    assert algorithm.channel(evaluated) is not None and algorithm.channel(evaluated).required, evaluated
    for name, value in algorithm.default_static_values.items():
        assert algorithm.hyperparameter(name).check_value(value) is None
    for rule in algorithm.objective_rules:
        assert algorithm.hyperparameter(rule.hyperparameter) is not None
        assert all(algorithm.objective_metric(m) for m in rule.metrics), rule.metrics


@pytest.mark.parametrize("algorithm", ALGORITHMS.values(), ids=ALGORITHM_KEYS)
def test_objective_metrics_are_among_the_metric_definitions(algorithm):
    assert algorithm.objective_metrics
    defined = {d["Name"] for d in algorithm.metric_definitions}
    objectives = [m.name for m in algorithm.objective_metrics]
    assert len(objectives) == len(set(objectives))
    for metric in algorithm.objective_metrics:
        assert metric.direction in ("Maximize", "Minimize")
        assert metric.name in defined, metric.name
    for name in algorithm.early_stopping_metrics:
        assert algorithm.objective_metric(name), name


@pytest.mark.parametrize("algorithm", ALGORITHMS.values(), ids=ALGORITHM_KEYS)
def test_metric_regexes_compile_with_exactly_one_group(algorithm):
    names = [d["Name"] for d in algorithm.metric_definitions]
    assert len(names) == len(set(names))
    for definition in algorithm.metric_definitions:
        assert set(definition) == {"Name", "Regex"}
        assert re.compile(definition["Regex"]).groups == 1, definition


def test_xgboost_regexes_read_a_real_training_log_line():
    line = "[12]#011train-rmse:0.3412#011validation-rmse:0.40125#011validation-auc:0.9"
    regexes = {d["Name"]: d["Regex"] for d in catalogue.get("xgboost").metric_definitions}
    assert re.search(regexes["validation:rmse"], line).group(1) == "0.40125"
    assert re.search(regexes["train:rmse"], line).group(1) == "0.3412"
    assert re.search(regexes["validation:auc"], line).group(1) == "0.9"


def test_knn_regex_reads_its_quality_metric_line():
    line = "#quality_metric: host=algo-1, test accuracy <score>=0.935"
    regexes = {d["Name"]: d["Regex"] for d in catalogue.get("knn").metric_definitions}
    assert re.search(regexes["test:accuracy"], line).group(1) == "0.935"


def test_metric_definitions_are_fresh_copies():
    algorithm = catalogue.get("xgboost")
    algorithm.metric_definitions[0]["Regex"] = "changed"
    assert algorithm.metric_definitions[0]["Regex"] != "changed"


@pytest.mark.parametrize("algorithm, hp", ALL_HYPERPARAMETERS)
def test_each_hyperparameter_is_well_formed(algorithm, hp):
    assert hp.allowed_types and set(hp.allowed_types) <= set(catalogue.PARAMETER_TYPES)
    assert hp.initial_type in hp.allowed_types
    assert hp.scaling in catalogue.SCALING_TYPES
    assert hp.value_type in catalogue.VALUE_TYPES
    assert hp.is_integer == (hp.value_type == "integer")
    assert hp.description and "\n" not in hp.description
    if hp.value_type == "options":
        assert hp.options
    if hp.min_value is not None and hp.max_value is not None:
        assert hp.min_value < hp.max_value
    if "Continuous" in hp.allowed_types or "Integer" in hp.allowed_types:
        assert hp.is_numeric, "a numeric range needs a numeric hyperparameter"
    if hp.initial_type == "Categorical":
        assert len(hp.initial_values) >= 2


@pytest.mark.parametrize("algorithm, hp", ALL_HYPERPARAMETERS)
def test_defaults_and_initial_values_are_accepted_by_their_own_spec(algorithm, hp):
    if hp.default is not None:
        assert hp.check_value(hp.default) is None, hp.check_value(hp.default)
    for value in hp.initial_values:
        assert hp.check_value(value) is None, hp.check_value(value)


@pytest.mark.parametrize("algorithm, hp", ALL_HYPERPARAMETERS)
def test_suggested_ranges_lie_within_bounds_and_suit_the_default_scaling(algorithm, hp):
    if hp.suggested_min is None and hp.suggested_max is None:
        return
    assert hp.suggested_min is not None and hp.suggested_max is not None
    assert hp.suggested_min < hp.suggested_max
    assert hp.within_bounds(hp.suggested_min) and hp.within_bounds(hp.suggested_max)
    assert (hp.suggested_min, hp.suggested_max) != (hp.min_value, hp.max_value), "only where it differs"
    if hp.scaling == "Logarithmic":
        assert hp.suggested_min > 0
    if hp.scaling == "ReverseLogarithmic":
        assert 0 <= hp.suggested_min and hp.suggested_max < 1


def test_the_developer_guides_xgboost_ranges_are_the_suggestions():
    xgb = catalogue.get("xgboost")
    eta = xgb.hyperparameter("eta")
    assert (eta.min_value, eta.max_value, eta.suggested_min, eta.suggested_max) == (0, 1, 0.1, 0.5)
    assert (xgb.hyperparameter("num_round").suggested_min, xgb.hyperparameter("num_round").suggested_max) == (1, 4000)
    assert xgb.hyperparameter("num_round").required
    assert xgb.hyperparameter("colsample_bynode").tunable


def test_xgboost_lists_every_version_with_the_newest_as_default():
    xgb = catalogue.get("xgboost")
    assert {"1.5-1", "1.7-1", "3.0-5"} <= set(xgb.versions)
    assert xgb.default_version == "3.2-0"
    assert xgb.image_uri("us-east-1") == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
    assert xgb.image_uri("eu-west-1", "1.7-1") == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert xgb.image_uri("ap-south-1", "1.0-1") == \
        "720646828776.dkr.ecr.ap-south-1.amazonaws.com/sagemaker-xgboost:1.0-1-cpu-py3"
    assert len(xgb.regions) == 37
    with pytest.raises(catalogue.UnknownVersionError, match="versions: 1, 0.90-1"):
        xgb.image_uri("us-east-1", "9.9-9")


def test_china_regions_use_the_amazonaws_com_cn_suffix():
    xgb = catalogue.get("xgboost")
    assert xgb.image_uri("cn-north-1") == "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:3.2-0"
    assert xgb.image_uri("cn-northwest-1").startswith("451049120500.dkr.ecr.cn-northwest-1.amazonaws.com.cn/")


def test_every_built_in_has_an_image_in_the_commercial_regions_it_was_missing():
    for key in ("linear-learner", "knn", "forecasting-deepar", "ipinsights", "ntm", "randomcutforest", "seq2seq"):
        algorithm = catalogue.get(key)
        assert {"us-east-1", "eu-central-1", "ap-south-1", "sa-east-1"} <= algorithm.regions, key
    assert catalogue.get("linear-learner").image_uri("ap-south-1") == \
        "991648021394.dkr.ecr.ap-south-1.amazonaws.com/linear-learner:1"


def test_it_raises_unknown_region_error_rather_than_invent_an_account():
    with pytest.raises(UnknownRegionError, match="LDA.*sa-east-1"):
        catalogue.get("lda").image_uri("sa-east-1")  # the library lists LDA in 16 regions only
    with pytest.raises(UnknownRegionError):
        catalogue.get("xgboost").image_uri("xx-nowhere-9")


def test_algorithm_for_image_recognises_any_region_and_any_tag():
    assert catalogue.algorithm_for_image(catalogue.get("xgboost").image_uri("eu-west-1")).key == "xgboost"
    assert catalogue.algorithm_for_image(
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.5-1").key == "xgboost"
    assert catalogue.algorithm_for_image(
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost@sha256:0123abcd").key == "xgboost"
    assert catalogue.algorithm_for_image(
        "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1").key == "xgboost"
    assert catalogue.algorithm_for_image("382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1").key == "knn"
    # The legacy XGBoost image lives in another registry than sagemaker-xgboost.
    assert catalogue.algorithm_for_image("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:1").key == "xgboost"
    for algorithm in ALGORITHMS.values():
        for image in algorithm.image_versions:
            for region in image.registries:
                uri = algorithm.image_uri(region, image.version)
                assert catalogue.algorithm_for_image(uri) is algorithm
                assert algorithm.version_of_image(uri) == image.version


@pytest.mark.parametrize("uri", [
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",  # someone's own repository
    "683313688378.dkr.ecr.us-east-1.amazonaws.com.evil.example/sagemaker-xgboost:1.7-1",  # look-alike host
    "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",  # account of another region
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/other:1",
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/team/sagemaker-xgboost:1",
    "sagemaker-xgboost:1.7-1",
    "",
    "x" * 5000,
    None,
    42,
    {"uri": 1},
])
def test_algorithm_for_image_returns_none_for_custom_and_junk(uri):
    assert catalogue.algorithm_for_image(uri) is None


def test_lookups_by_name():
    xgb = catalogue.get("xgboost")
    assert xgb.hyperparameter("eta").scaling == "Linear"
    assert xgb.hyperparameter("nope") is None
    assert xgb.objective_metric("validation:auc") == catalogue.ObjectiveMetric("validation:auc", "Maximize")
    assert xgb.objective_metric("validation:rmse").direction == "Minimize"
    assert xgb.objective_metric("train:rmse") is None
    assert xgb.default_objective in xgb.objective_metrics


def test_early_stopping_support_follows_the_developer_guide():
    assert catalogue.get("xgboost").early_stopping_works_with("validation:auc")
    ll = catalogue.get("linear-learner")
    assert ll.early_stopping_works_with("validation:objective_loss")
    assert not ll.early_stopping_works_with("validation:binary_f_beta")
    assert not catalogue.get("kmeans").early_stopping_works_with("test:msd")


@pytest.mark.parametrize("key, name, value, problem", [
    ("xgboost", "eta", "0.3", None),
    ("xgboost", "eta", "1.5", "eta must be between 0 and 1 (got '1.5')"),
    ("xgboost", "max_depth", "2.5", "max_depth must be a whole number (got '2.5')"),
    ("xgboost", "booster", "forest", "booster must be one of gbtree, gblinear, dart (got 'forest')"),
    ("xgboost", "updater", "grow_colmaker,prune", None),
    ("xgboost", "updater", "grow_colmaker,bogus", "comma-separated"),
    ("xgboost", "tweedie_variance_power", "2", "tweedie_variance_power must be above 1 and below 2 (got '2')"),
    ("knn", "faiss_index_ivf_nlists", "auto", None),
    ("knn", "faiss_index_ivf_nlists", "0", "must be at least 1"),
    ("knn", "faiss_index_ivf_nlists", "many", "a whole number or one of auto"),
    ("linear-learner", "positive_example_weight_mult", "balanced", None),
    ("linear-learner", "positive_example_weight_mult", "0", "above 0"),
    ("forecasting-deepar", "time_freq", "5min", None),
    ("forecasting-deepar", "time_freq", "0H", "not in the expected form"),
    ("forecasting-deepar", "cardinality", "[2, 3]", None),  # an array of positive integers
    ("forecasting-deepar", "cardinality", "ignore", None),
    ("forecasting-deepar", "cardinality", "[0]", "not in the expected form"),
    ("xgboost", "objective", "reg:absoluteerror", None),
    ("xgboost", "objective", "binary:logistik", "objective must be one of"),  # a choice: a typo fails every job
    ("xgboost", "eval_metric", "error@0.7", None),  # free text: the options are suggestions
])
def test_check_value(key, name, value, problem):
    result = catalogue.get(key).hyperparameter(name).check_value(value)
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


@pytest.mark.parametrize("text, number", [
    ("5", 5), ("-3", -3), ("+7", 7), (" 5", None), ("5 ", None), ("1_000", None), ("5.0", None), ("", None),
    ("9" * 100, None), (None, None), (5, None),
])
def test_parse_int_reads_plain_whole_numbers_only(text, number):
    assert catalogue.parse_int(text) == number


@pytest.mark.parametrize("text, number", [
    ("0.5", 0.5), (".5", 0.5), ("1e-7", 1e-7), ("-2", -2.0), ("3.", 3.0), ("nan", None), ("inf", None),
    ("1e999", None), ("1_0", None), (" 1", None), ("0x10", None), ("", None), (None, None),
])
def test_parse_float_reads_plain_finite_numbers_only(text, number):
    assert catalogue.parse_float(text) == number


def test_the_catalogue_does_not_read_the_shared_reference_at_runtime():
    source = (catalogue.DATA_DIR.parent / "catalogue.py").read_text()
    assert "/work/shared" not in source
    # the data files, and the note of the guide pages they come from
    assert all(path.suffix == ".json" or path.name == "SOURCES.md" for path in catalogue.DATA_DIR.iterdir())


# ---- the developer guide's "Tune a ... model" pages (hpo_jobs/sagemaker/catalogue_data/SOURCES.md) -------
MAX, MIN = "Maximize", "Minimize"
_LL_METRICS = {
    **{f"{channel}:{name}": MAX for channel in ("test", "validation") for name in (
        "binary_classification_accuracy", "binary_f_beta", "dcg", "macro_f_beta", "macro_precision", "macro_recall",
        "multiclass_accuracy", "multiclass_top_k_accuracy", "precision", "recall", "roc_auc_score")},
    **{f"{channel}:{name}": MIN for channel in ("test", "validation")
       for name in ("absolute_loss", "mse", "objective_loss")},
    "validation:rmse": MIN,
}
# key: (the hyperparameters the Tune page lists, the objective metrics of its metric table with their direction)
GUIDE_TUNING = {
    "xgboost": ({"alpha", "colsample_bylevel", "colsample_bynode", "colsample_bytree", "eta", "gamma", "lambda",
                 "max_delta_step", "max_depth", "min_child_weight", "num_round", "subsample"},
                {"validation:accuracy": MAX, "validation:auc": MAX, "validation:f1": MAX, "validation:map": MAX,
                 "validation:ndcg": MAX, "validation:error": MIN, "validation:logloss": MIN, "validation:mae": MIN,
                 "validation:merror": MIN, "validation:mlogloss": MIN, "validation:mse": MIN,
                 "validation:rmse": MIN}),
    "linear-learner": ({"wd", "l1", "learning_rate", "mini_batch_size", "use_bias", "positive_example_weight_mult"},
                       _LL_METRICS),
    "knn": ({"k", "sample_size"}, {"test:accuracy": MAX, "test:mse": MIN}),
    "kmeans": ({"epochs", "extra_center_factor", "init_method", "mini_batch_size"},
               {"test:msd": MIN, "test:ssd": MIN}),
    "factorization-machines": (
        {"epochs", "mini_batch_size"} | {f"{part}_{what}" for part in ("bias", "linear", "factors")
                                         for what in ("init_scale", "init_sigma", "init_value", "lr", "wd")},
        {"test:rmse": MIN, "test:binary_classification_accuracy": MAX,
         "test:binary_classification_cross_entropy": MIN, "test:binary_f_beta": MAX}),
    "image-classification": ({"beta_1", "beta_2", "eps", "gamma", "learning_rate", "mini_batch_size", "momentum",
                              "optimizer", "weight_decay"}, {"validation:accuracy": MAX}),
    "object-detection": ({"learning_rate", "mini_batch_size", "momentum", "optimizer", "weight_decay"},
                         {"validation:mAP": MAX}),
    "blazingtext": ({"batch_size", "epochs", "learning_rate", "min_count", "mode", "negative_samples",
                     "sampling_threshold", "vector_dim", "window_size", "buckets", "word_ngrams"},
                    {"train:mean_rho": MAX, "validation:accuracy": MAX}),
    "forecasting-deepar": ({"mini_batch_size", "epochs", "context_length", "num_cells", "num_layers", "dropout_rate",
                            "embedding_dimension", "learning_rate"},
                           {"test:RMSE": MIN, "test:mean_wQuantileLoss": MIN, "train:final_loss": MIN}),
    "semantic-segmentation": ({"learning_rate", "mini_batch_size", "momentum", "optimizer", "weight_decay"},
                              {"validation:mIOU": MAX, "validation:pixel_accuracy": MAX}),
    "object2vec": ({"dropout", "early_stopping_patience", "early_stopping_tolerance", "enc_dim",
                    "enc0_cnn_filter_width", "enc0_layers", "enc0_token_embedding_dim", "enc1_cnn_filter_width",
                    "enc1_layers", "enc1_token_embedding_dim", "epochs", "learning_rate", "mini_batch_size",
                    "mlp_activation", "mlp_dim", "mlp_layers", "optimizer", "weight_decay"},
                   {"test:mean_squared_error": MIN, "validation:mean_squared_error": MIN, "test:accuracy": MAX,
                    "test:cross_entropy": MIN, "validation:accuracy": MAX, "validation:cross_entropy": MIN}),
    "ipinsights": ({"epochs", "learning_rate", "mini_batch_size", "num_entity_vectors", "num_ip_encoder_layers",
                    "random_negative_sampling_rate", "shuffled_negative_sampling_rate", "vector_dim",
                    "weight_decay"}, {"validation:discriminator_auc": MAX}),
    "lda": ({"alpha0", "num_topics"}, {"test:pwll": MAX}),
    "ntm": ({"encoder_layers_activation", "learning_rate", "mini_batch_size", "optimizer", "rescale_gradient",
             "weight_decay"}, {"validation:total_loss": MIN}),
    "randomcutforest": ({"num_samples_per_tree", "num_trees"}, {"test:f1": MAX}),
    "seq2seq": ({"num_layers_encoder", "num_layers_decoder", "batch_size", "optimizer_type", "weight_init_type",
                 "weight_init_scale", "learning_rate", "weight_decay", "momentum", "clip_gradient", "rnn_num_hidden",
                 "cnn_num_hidden", "num_embed_source", "num_embed_target", "embed_dropout_source",
                 "embed_dropout_target", "rnn_decoder_hidden_dropout", "cnn_hidden_dropout", "lr_scheduler_type",
                 "plateau_reduce_lr_factor", "plateau_reduce_lr_threshold", "fixed_rate_lr_half_life"},
                {"validation:accuracy": MAX, "validation:perplexity": MIN, "validation:bleu": MAX}),
}


def test_the_guide_table_covers_every_built_in():
    assert set(GUIDE_TUNING) == set(ALGORITHMS)


@pytest.mark.parametrize("key", GUIDE_TUNING)
def test_exactly_the_hyperparameters_the_guide_lists_are_tunable(key):
    tunable, _ = GUIDE_TUNING[key]
    assert {hp.name for hp in catalogue.get(key).hyperparameters if hp.tunable} == tunable


@pytest.mark.parametrize("key", GUIDE_TUNING)
def test_the_objective_metrics_and_directions_are_the_guides(key):
    _, metrics = GUIDE_TUNING[key]
    assert {m.name: m.direction for m in catalogue.get(key).objective_metrics} == metrics


@pytest.mark.parametrize("key, name", [
    ("linear-learner", "epochs"), ("blazingtext", "min_char"), ("blazingtext", "max_char"),
    ("blazingtext", "subwords"),
])
def test_hyperparameters_the_guide_does_not_tune_take_a_static_value_only(key, name):
    spec = catalogue.get(key).hyperparameter(name)
    assert not spec.tunable and spec.tunable_as() == ()


def test_semantic_segmentations_learning_rate_is_tunable_as_the_guide_says():
    spec = catalogue.get("semantic-segmentation").hyperparameter("learning_rate")
    assert spec.tunable and "Continuous" in spec.tunable_as()
    assert (spec.suggested_min, spec.suggested_max) == (1e-4, 1e-1)


def test_linear_learner_offers_the_guides_29_objective_metrics_for_all_three_predictor_types():
    algorithm = catalogue.get("linear-learner")
    names = {m.name for m in algorithm.objective_metrics}
    assert len(algorithm.objective_metrics) == 29 == len(names)
    assert {"validation:mse", "validation:rmse", "validation:absolute_loss", "test:mse"} <= names  # regression
    assert {"validation:multiclass_accuracy", "validation:macro_f_beta", "test:dcg"} <= names  # multiclass
    assert "test:rmse" not in names and "test:roc_auc_score" in names
    # each metric is reported under the predictor type the guide names
    assert algorithm.objective_problems("validation:rmse", {"predictor_type": "regressor"}) == []
    assert algorithm.objective_problems("validation:rmse", {"predictor_type": "binary_classifier"})
    assert algorithm.objective_problems("test:dcg", {"predictor_type": "multiclass_classifier"}) == []
    assert algorithm.objective_problems("test:roc_auc_score", {"predictor_type": "regressor"})


@pytest.mark.parametrize("key, name, low, high", [
    ("ipinsights", "vector_dim", 8, 256),
    ("ipinsights", "num_entity_vectors", 10000, 1000000),
    ("ipinsights", "learning_rate", 1e-4, 0.1),
    ("lda", "alpha0", 0.1, 10),
    ("lda", "num_topics", 1, 150),
    ("ntm", "mini_batch_size", 16, 2048),
    ("ntm", "rescale_gradient", 0.1, 1.0),
    ("seq2seq", "learning_rate", 0.00005, 0.2),
    ("seq2seq", "num_embed_source", 256, 512),
    ("seq2seq", "plateau_reduce_lr_threshold", 1, 5),
])
def test_the_new_built_ins_suggest_the_guides_recommended_ranges(key, name, low, high):
    spec = catalogue.get(key).hyperparameter(name)
    assert (spec.suggested_min, spec.suggested_max) == (low, high)


def test_random_cut_forests_recommended_ranges_are_its_valid_values():
    # The Tune page recommends exactly the bounds of the hyperparameters page: nothing narrower to suggest.
    for name, low, high in (("num_samples_per_tree", 1, 2048), ("num_trees", 50, 1000)):
        spec = catalogue.get("randomcutforest").hyperparameter(name)
        assert (spec.min_value, spec.max_value) == (low, high) and spec.tunable


@pytest.mark.parametrize("key, name, values", [
    ("seq2seq", "batch_size", ("16", "32", "64", "128", "256", "512", "1024", "2048")),
    ("seq2seq", "rnn_num_hidden", ("128", "256", "512", "1024", "2048")),
    ("seq2seq", "cnn_num_hidden", ("128", "256", "512", "1024", "2048")),
    ("ntm", "encoder_layers_activation", ("sigmoid", "tanh", "relu")),
    ("ntm", "optimizer", ("sgd", "adam", "adadelta")),
    ("blazingtext", "mode", ("batch_skipgram", "skipgram", "cbow")),
])
def test_categorical_ranges_start_with_the_guides_values(key, name, values):
    spec = catalogue.get(key).hyperparameter(name)
    assert "Categorical" in spec.tunable_as()
    assert spec.initial_values == values


def test_the_new_built_ins_require_what_their_hyperparameter_pages_require():
    required = {key: {hp.name for hp in catalogue.get(key).required_hyperparameters}
                for key in ("ipinsights", "lda", "ntm", "randomcutforest", "seq2seq")}
    assert required == {"ipinsights": {"num_entity_vectors", "vector_dim"},
                        "lda": {"num_topics", "feature_dim", "mini_batch_size"},
                        "ntm": {"feature_dim", "num_topics"},
                        "randomcutforest": {"feature_dim"},
                        "seq2seq": set()}


# ---- channels and content types: each built-in's overview page (SOURCES.md, "Other pages") ---------------
RECORDIO_PROTOBUF, CSV, JSONLINES = "application/x-recordio-protobuf", "text/csv", "application/jsonlines"
RECORDIO, X_IMAGE, PNG, JPEG = "application/x-recordio", "application/x-image", "image/png", "image/jpeg"
TABULAR = (CSV, RECORDIO_PROTOBUF)
TOPICS = (CSV, RECORDIO_PROTOBUF)
IMAGES = (RECORDIO, PNG, JPEG, X_IMAGE)
# key: {channel: (required, the content types it reads with the wizard's default first)}. A channel the
# guide calls optional is required here when the default objective metric is computed on it.
GUIDE_CHANNELS = {
    "xgboost": {"train": (True, (CSV, "text/libsvm", "application/x-parquet", RECORDIO_PROTOBUF)),
                "validation": (True, (CSV, "text/libsvm", "application/x-parquet", RECORDIO_PROTOBUF))},
    "linear-learner": {"train": (True, TABULAR), "validation": (True, TABULAR), "test": (False, TABULAR)},
    "knn": {"train": (True, TABULAR), "test": (True, TABULAR)},
    "kmeans": {"train": (True, TABULAR), "test": (True, TABULAR)},
    "factorization-machines": {"train": (True, (RECORDIO_PROTOBUF,)), "test": (True, (RECORDIO_PROTOBUF,))},
    "object2vec": {"train": (True, (JSONLINES,)), "validation": (True, (JSONLINES,)), "test": (False, (JSONLINES,)),
                   "auxiliary": (False, ("application/json",))},
    "image-classification": {"train": (True, IMAGES), "validation": (True, IMAGES),
                             "train_lst": (False, (X_IMAGE,)), "validation_lst": (False, (X_IMAGE,))},
    "object-detection": {"train": (True, (RECORDIO, JPEG, PNG, X_IMAGE)),
                         "validation": (True, (RECORDIO, JPEG, PNG, X_IMAGE)),
                         "train_annotation": (False, (X_IMAGE, PNG, JPEG)),
                         "validation_annotation": (False, (X_IMAGE, PNG, JPEG))},
    "semantic-segmentation": {"train": (True, (JPEG, RECORDIO)), "validation": (True, (JPEG, RECORDIO)),
                              "train_annotation": (True, (PNG,)), "validation_annotation": (True, (PNG,)),
                              "label_map": (False, ("application/json",))},
    "blazingtext": {"train": (True, ("text/plain",)), "validation": (True, ("text/plain",))},
    "forecasting-deepar": {"train": (True, (JSONLINES, "application/x-parquet")),
                           "test": (True, (JSONLINES, "application/x-parquet"))},
    "ipinsights": {"train": (True, (CSV,)), "validation": (True, (CSV,))},
    "lda": {"train": (True, TOPICS), "test": (True, TOPICS)},
    "ntm": {"train": (True, TOPICS), "validation": (True, TOPICS), "test": (False, TOPICS),
            "auxiliary": (False, ("text/plain",))},
    "randomcutforest": {"train": (True, (CSV, "text/csv;label_size=0", RECORDIO_PROTOBUF)),
                        "test": (True, ("text/csv;label_size=1", RECORDIO_PROTOBUF))},
    "seq2seq": {"train": (True, (RECORDIO_PROTOBUF,)), "validation": (True, (RECORDIO_PROTOBUF,)),
                "vocab": (True, ("application/json",))},
}


def test_the_channel_table_covers_every_built_in():
    assert set(GUIDE_CHANNELS) == set(ALGORITHMS)


@pytest.mark.parametrize("key", GUIDE_CHANNELS)
def test_channels_their_required_ones_and_content_types_are_the_guides(key):
    algorithm = catalogue.get(key)
    expected = GUIDE_CHANNELS[key]
    assert [c.name for c in algorithm.channels] == list(expected)
    assert {c.name for c in algorithm.required_channels} == {name for name, (req, _) in expected.items() if req}
    for name, (_, content_types) in expected.items():
        channel = algorithm.channel(name)
        assert channel.content_types == content_types, name
        assert channel.default_content_type == content_types[0], name


def test_ip_insights_reads_its_channels_in_file_mode_only():
    algorithm = catalogue.get("ipinsights")
    assert algorithm.input_modes == ("File",) and algorithm.default_input_mode == "File"
    assert all(a.input_modes == ("File", "Pipe") for a in ALGORITHMS.values() if a.key != "ipinsights")
