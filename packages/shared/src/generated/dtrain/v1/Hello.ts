// Original file: proto/dtrain.proto


export interface Hello {
}

export interface Hello__Output {
}
