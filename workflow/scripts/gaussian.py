"""The paper's 2-D Gaussian study with an RBF SVM, over many seeds (params: gaussian)."""

from dupstudy import stage
from dupstudy.gaussian import run_study, save_study


def main(args, params):
    result = run_study(params["gaussian"])
    save_study(result, args.out)
    return f"{params['gaussian']['seeds']} seeds x {len(params['gaussian']['rates'])} rates x 2 schemes -> {args.out}"


if __name__ == "__main__":
    stage.run(main, "gaussian", __doc__)
