rule aggregate:
    input:
        **stage_inputs("aggregate"),
    output:
        **stage_outputs("aggregate"),
    params:
        settings=smk_settings(STAGES["aggregate"], config),
    log:
        stage_log("aggregate"),
    conda:
        "../../envs/dupstudy.yaml"
    shell:
        smk_shell(STAGES["aggregate"])


rule gaussian:
    output:
        **stage_outputs("gaussian"),
    params:
        settings=smk_settings(STAGES["gaussian"], config),
    log:
        stage_log("gaussian"),
    conda:
        "../../envs/dupstudy.yaml"
    threads: 1
    shell:
        smk_shell(STAGES["gaussian"])


rule report:
    input:
        **stage_inputs("report"),
    output:
        **stage_outputs("report"),
    params:
        settings=smk_settings(STAGES["report"], config),
    log:
        stage_log("report"),
    conda:
        "../../envs/dupstudy.yaml"
    shell:
        smk_shell(STAGES["report"])
